//! Generates the read use cases that only check the caller's role and ask the store (which
//! applies the caller's tenant scope where the store call takes the actor).

/// `scoped`: the store call takes the actor (tenant scope); `staff`: it does not.
macro_rules! reads {
    ($(
        $(#[$doc:meta])*
        $kind:ident fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty = $action:ident, $what:literal;
    )*) => {
        impl $crate::App {
            $( reads!(@one $kind $(#[$doc])* $name($($arg: $ty),*) -> $ret = $action, $what); )*
        }
    };
    (@one scoped $(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty = $action:ident, $what:literal) => {
        $(#[$doc])*
        pub async fn $name(
            &self,
            $($arg: $ty,)*
            actor: &pilotline_domain::Actor,
        ) -> Result<$ret, $crate::AppError> {
            $crate::perform::require(actor, pilotline_domain::Action::$action, $what)?;
            Ok(self.store.$name($($arg,)* actor).await?)
        }
    };
    (@one staff $(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty = $action:ident, $what:literal) => {
        $(#[$doc])*
        pub async fn $name(
            &self,
            $($arg: $ty,)*
            actor: &pilotline_domain::Actor,
        ) -> Result<$ret, $crate::AppError> {
            $crate::perform::require(actor, pilotline_domain::Action::$action, $what)?;
            Ok(self.store.$name($($arg),*).await?)
        }
    };
}
pub(crate) use reads;
