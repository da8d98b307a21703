//! Why a request was refused: a stable code with parameters.
//!
//! Every refusal Pilotline gives — by the domain rules, the store, the application layer or an
//! adapter — is a [`Code`] from the one catalogue below plus named parameters. The code is the
//! contract: clients and tests match on it, and a page renders its own language from it. The
//! English text is rendered from the code's template and the parameters ([`Refusal::message`]).

use std::fmt;

/// How a refusal is answered: which family of problem it is (and so which HTTP status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The request is malformed at the protocol level (HTTP 400).
    BadRequest,
    /// No credentials, or credentials that are not (or no longer) valid (HTTP 401).
    Unauthorized,
    /// The caller's role may not do this (HTTP 403).
    Forbidden,
    /// Something the request names does not exist, or the caller may not see it (HTTP 404).
    NotFound,
    /// The method is not served on this path (HTTP 405).
    MethodNotAllowed,
    /// The transition is illegal in the current state (HTTP 409).
    Illegal,
    /// Another transaction got there first, or the thing exists with other content (HTTP 409).
    Conflict,
    /// The body is larger than this route accepts (HTTP 413).
    TooLarge,
    /// The request URI is too long (HTTP 414).
    UriTooLong,
    /// The body's media type is not accepted (HTTP 415).
    UnsupportedMedia,
    /// The request itself is invalid regardless of state (HTTP 422).
    Invalid,
    /// Too many requests of this kind are running; retry later (HTTP 429).
    TooMany,
    /// The database cannot be reached; retry (HTTP 503).
    Unavailable,
    /// Something failed inside the server; the cause is in its log (HTTP 500).
    Internal,
}

impl Kind {
    /// The HTTP status an adapter answers this kind with.
    pub fn http_status(self) -> u16 {
        match self {
            Kind::BadRequest => 400,
            Kind::Unauthorized => 401,
            Kind::Forbidden => 403,
            Kind::NotFound => 404,
            Kind::MethodNotAllowed => 405,
            Kind::Illegal | Kind::Conflict => 409,
            Kind::TooLarge => 413,
            Kind::UriTooLong => 414,
            Kind::UnsupportedMedia => 415,
            Kind::Invalid => 422,
            Kind::TooMany => 429,
            Kind::Unavailable => 503,
            Kind::Internal => 500,
        }
    }
}

macro_rules! codes {
    ($( $(#[$doc:meta])* $name:ident = ($text:literal, $kind:ident, $english:literal), )*) => {
        /// Every refusal code. The string form ([`Code::as_str`]) is stable: it is what
        /// problem+json answers carry and what clients and tests match on.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $( $(#[$doc])* $name, )*
        }

        impl Code {
            /// Every code, in catalogue order.
            pub const ALL: &'static [Code] = &[$(Code::$name,)*];

            /// The stable identifier (`lot_held`).
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$name => $text,)* }
            }

            /// Which family of problem this is.
            pub fn kind(self) -> Kind {
                match self { $(Code::$name => Kind::$kind,)* }
            }

            /// The English template; `{name}` stands for the parameter `name`.
            pub fn english(self) -> &'static str {
                match self { $(Code::$name => $english,)* }
            }

            /// The code with this identifier.
            pub fn parse(s: &str) -> Option<Code> {
                match s { $($text => Some(Code::$name),)* _ => None }
            }
        }
    };
}

codes! {
    // --- protocol and identity -------------------------------------------------------------
    /// No `Authorization` header, or one that is not `Bearer <token>`.
    AuthMissing = ("auth_missing", Unauthorized, "send Authorization: Bearer <token>"),
    /// The token is unknown, revoked or expired, or its user is disabled.
    AuthInvalid = ("auth_invalid", Unauthorized, "the token is unknown, revoked or expired, or its user is disabled"),
    /// The caller's role may not do this.
    RoleForbidden = ("role_forbidden", Forbidden, "role {role} may not {action}"),
    /// No such route (URL path).
    PathNotFound = ("path_not_found", NotFound, "no resource at {path}"),
    /// The method is not served on this path.
    MethodNotAllowed = ("method_not_allowed", MethodNotAllowed, "{method} is not allowed on {path}"),
    /// The request body is larger than the route accepts.
    BodyTooLarge = ("body_too_large", TooLarge, "the body is larger than this route accepts (at most {limit})"),
    /// The URI is too long.
    UriTooLong = ("uri_too_long", UriTooLong, "the request URI is longer than {limit} bytes"),
    /// The request could not be read (bad encoding, bad header).
    BadRequest = ("bad_request", BadRequest, "{reason}"),
    /// The body's content type is not accepted.
    UnsupportedMedia = ("unsupported_media_type", UnsupportedMedia, "send the body as {expected}"),
    /// The JSON body does not parse or does not match the schema.
    BodyInvalid = ("body_invalid", Invalid, "{field}: {reason}"),
    /// A query parameter is unknown or its value malformed.
    QueryInvalid = ("query_invalid", Invalid, "{parameter}: {reason}"),
    /// A header's value is malformed.
    HeaderInvalid = ("header_invalid", Invalid, "{header}: {reason}"),
    /// A CSV body has a fault.
    CsvInvalid = ("csv_invalid", Invalid, "line {line}: {reason}"),
    /// A body that must carry content is empty.
    BodyEmpty = ("body_empty", Invalid, "the request body is empty: {expected}"),
    /// The format asked for is not offered here.
    FormatUnsupported = ("format_unsupported", Invalid, "format {format} is not offered here: {reason}"),
    /// The same Idempotency-Key was sent with a different request.
    IdempotencyKeyReused = ("idempotency_key_reused", Invalid, "Idempotency-Key {key} was already used for a different request"),
    /// A request with the same Idempotency-Key is being processed.
    IdempotencyKeyInFlight = ("idempotency_key_in_flight", Conflict, "a request with Idempotency-Key {key} is being processed; retry"),
    /// Too many uploads are running.
    TooManyUploads = ("too_many_uploads", TooMany, "{limit} uploads are already running; retry later"),
    /// The database cannot be reached.
    Unavailable = ("unavailable", Unavailable, "the database is unavailable; retry with the same Idempotency-Key"),
    /// An internal failure.
    Internal = ("internal", Internal, "internal error; the cause is in the server log"),
    /// A token named does not exist.
    TokenNotFound = ("token_not_found", NotFound, "token {token} does not exist"),
    /// A user named does not exist.
    UserNotFound = ("user_not_found", NotFound, "user {user} does not exist"),
    /// A tenant admin chose a user name that belongs to someone outside its tenant.
    UserTaken = ("user_name_taken", Conflict, "user name {user} is taken; choose another"),
    /// A tenant named does not exist.
    TenantNotFound = ("tenant_not_found", NotFound, "tenant {tenant} does not exist"),
    /// A field names a tenant that does not exist.
    TenantUnknown = ("tenant_unknown", Invalid, "{field}: tenant {tenant} does not exist; create it first"),
    /// A customer must belong to a tenant; staff must not.
    TenantRequired = ("tenant_role_mismatch", Invalid, "role {role} {requirement}"),

    // --- fields ---------------------------------------------------------------------------
    /// A required text field is empty.
    FieldEmpty = ("field_empty", Invalid, "{field}: must not be empty"),
    /// A text field holds control characters.
    FieldControlChars = ("field_control_characters", Invalid, "{field}: must not contain control characters"),
    /// A text field is too long.
    FieldTooLong = ("field_too_long", Invalid, "{field}: longer than {max} characters"),
    /// An id does not have the allowed form.
    IdMalformed = ("id_malformed", Invalid, "{field}: {value} must be 1-64 characters of letters, digits, '-' or '_'"),
    /// A number is outside its range.
    OutOfRange = ("out_of_range", Invalid, "{field}: {value} is outside {range}"),
    /// A time window ends before it starts.
    WindowReversed = ("window_reversed", Invalid, "from ({from}) is after to ({to})"),
    /// A definition (route, product, chart, bin table) has problems.
    DefinitionInvalid = ("definition_invalid", Invalid, "{what}: {problems}"),

    // --- master data ----------------------------------------------------------------------
    /// A route (or route version) does not exist.
    RouteNotFound = ("route_not_found", NotFound, "route {route} does not exist"),
    /// A field names a route that does not exist.
    RouteUnknown = ("route_unknown", Invalid, "{field}: route {route} does not exist"),
    /// A route has no steps.
    RouteEmpty = ("route_empty", Invalid, "route {route} has no steps"),
    /// A product does not exist.
    ProductNotFound = ("product_not_found", NotFound, "product {product} does not exist"),
    /// A field names a product that does not exist.
    ProductUnknown = ("product_unknown", Invalid, "{field}: product {product} does not exist"),
    /// A tool does not exist.
    EquipmentNotFound = ("equipment_not_found", NotFound, "equipment {equipment} does not exist"),
    /// A field names a tool that does not exist.
    EquipmentUnknown = ("equipment_unknown", Invalid, "{field}: equipment {equipment} does not exist"),
    /// Something exists already with other content.
    AlreadyExists = ("already_exists", Conflict, "{what} {id} already exists with other content"),
    /// A step is not on the lot's route.
    StepUnknown = ("step_unknown", Invalid, "{field}: route {route} v{version} has no step {step}"),

    // --- tools ----------------------------------------------------------------------------
    /// The tool is running another lot.
    EquipmentBusy = ("equipment_busy", Illegal, "equipment {equipment} is busy running lot {lot}"),
    /// The tool is not in a state that can run a lot.
    EquipmentUnavailable = ("equipment_unavailable", Illegal, "equipment {equipment} is not available: it is {state}"),
    /// The tool's state cannot change while it runs a lot.
    EquipmentRunning = ("equipment_running", Illegal, "equipment {equipment} is running lot {lot}; track it out before changing state"),
    /// Productive and engineering are entered by tracking in.
    StateNotManual = ("state_not_manual", Invalid, "state {state} is entered by tracking a lot in, not set by hand"),
    /// The tool is already in that state.
    EquipmentSameState = ("equipment_same_state", Illegal, "equipment {equipment} is already {state}"),
    /// The tool's type does not match the step.
    EquipmentWrongType = ("equipment_wrong_type", Illegal, "equipment {equipment} is a {equipment_type}, but step {step} runs on {step_type}"),
    /// Someone else changed the tool.
    EquipmentChanged = ("equipment_changed", Conflict, "equipment {equipment} was changed concurrently; retry"),

    // --- lots -----------------------------------------------------------------------------
    /// The lot does not exist (or the caller may not see it).
    LotNotFound = ("lot_not_found", NotFound, "lot {lot} does not exist"),
    /// A field names a lot that does not exist.
    LotUnknown = ("lot_unknown", Invalid, "{field}: lot {lot} does not exist"),
    /// The lot exists already.
    LotExists = ("lot_exists", Conflict, "lot {lot} already exists"),
    /// `If-Match` names another version.
    LotVersionMismatch = ("lot_version_mismatch", Conflict, "lot {lot} is at version {version}, not {expected} (If-Match)"),
    /// Another transaction changed the lot.
    LotChanged = ("lot_changed", Conflict, "lot {lot} was changed by another transaction; reload and retry"),
    /// The lot is running; it must be tracked out first.
    LotRunning = ("lot_running", Illegal, "lot {lot} is running on {equipment}; track it out first"),
    /// The lot is not running.
    LotNotRunning = ("lot_not_running", Illegal, "lot {lot} is {state}, not running; only a running lot can be tracked out"),
    /// The lot runs on another tool.
    LotOnOtherTool = ("lot_on_other_tool", Illegal, "lot {lot} is not running on equipment {equipment}"),
    /// The lot's state does not allow this.
    LotStateForbids = ("lot_state_forbids", Illegal, "lot {lot} is {state}; {allowed}"),
    /// The lot is on hold.
    LotHeld = ("lot_held", Illegal, "lot {lot} is on hold ({holds}); every hold must be released first"),
    /// The hold does not exist or is released.
    HoldNotFound = ("hold_not_found", NotFound, "lot {lot} has no active hold #{hold}"),
    /// An SPC hold needs a disposition.
    DispositionRequired = ("disposition_required", Invalid, "disposition: hold #{hold} is an SPC hold ({comment}); releasing it needs a disposition (e.g. use-as-is, rework, scrap)"),
    /// The recipe differs from the step's.
    RecipeOverride = ("recipe_override_forbidden", Illegal, "recipe {recipe} differs from step {step}'s recipe {step_recipe}; only engineering lots may override it"),
    /// The Q-time window closed.
    QTimeExpired = ("qtime_expired", Illegal, "Q-time after step {step} expired at {deadline}; the lot must be held (QTIME) and dispositioned by an engineer"),
    /// A future hold's step is not ahead.
    StepNotAhead = ("step_not_ahead", Illegal, "step {step} is not ahead of the lot's current step {current}"),
    /// A rework's step is not before the current one.
    ReworkNotBack = ("rework_not_back", Illegal, "rework must go back: step {step} is not before the current step {current}"),
    /// The rework limit is reached.
    ReworkLimit = ("rework_limit", Illegal, "lot {lot} has been reworked {count} times, the limit of route {route}"),
    /// A wafer list is empty.
    WafersEmpty = ("wafers_empty", Invalid, "{field}: name at least one wafer"),
    /// A wafer is named twice.
    WaferTwice = ("wafer_named_twice", Invalid, "{field}: wafer {wafer} is named twice"),
    /// A wafer is scrapped already.
    WaferScrapped = ("wafer_scrapped", Invalid, "{field}: wafer {wafer} is already scrapped"),
    /// A wafer is not in the lot.
    WaferNotInLot = ("wafer_not_in_lot", Invalid, "{field}: wafer {wafer} is not in lot {lot}"),
    /// A wafer belongs to another lot.
    WaferExists = ("wafer_exists", Conflict, "wafer {wafer} already exists in another lot"),
    /// The wafer does not exist (or the caller may not see it).
    WaferNotFound = ("wafer_not_found", NotFound, "wafer {wafer} does not exist"),
    /// Wafer ids do not match the count.
    WaferIdsCount = ("wafer_ids_count", Invalid, "wafer_ids: {given} ids given for wafer_count {count}"),
    /// A split must leave a wafer.
    SplitAll = ("split_takes_all", Invalid, "wafers: a split must leave at least one wafer in the parent lot"),
    /// A lot cannot merge with itself.
    MergeSelf = ("merge_self", Invalid, "from_lot: a lot cannot be merged into itself"),
    /// The lots differ.
    MergeMismatch = ("merge_mismatch", Illegal, "lots {lot} and {other} differ in {what} ({a} vs {b}); they cannot be merged"),
    /// A merge would exceed a carrier.
    MergeTooMany = ("merge_too_many", Illegal, "lots {lot} and {other} together hold {count} wafers, more than {max}"),
    /// The product belongs to another tenant.
    TenantMismatch = ("tenant_mismatch", Invalid, "tenant: product {product} belongs to tenant {product_tenant}, not {tenant}"),

    // --- measurements and SPC -------------------------------------------------------------
    /// The step does not measure this parameter.
    ParameterNotPlanned = ("parameter_not_planned", Invalid, "{at}.parameter: step {step} does not measure {parameter} (its plan: {plan})"),
    /// A reading is not a finite number.
    ReadingNotFinite = ("reading_not_finite", Invalid, "{at}.value: must be a finite number"),
    /// A reading is outside the physically valid range.
    ReadingImplausible = ("reading_implausible", Invalid, "{at}.value: {value} {unit} is outside the valid range of {parameter} [{min}, {max}]: an implausible reading; measure again"),
    /// A reading names a wafer that is not an active wafer of its lot.
    ReadingWaferNotInLot = ("reading_wafer_not_in_lot", Invalid, "{at}.wafer: {wafer} is not an active wafer of lot {lot}"),
    /// No readings were sent.
    ReadingsEmpty = ("readings_empty", Invalid, "readings: send at least one"),
    /// A chart does not exist.
    ChartNotFound = ("chart_not_found", NotFound, "chart {chart} does not exist"),
    /// A chart has too few points for limits.
    ChartTooFewPoints = ("chart_too_few_points", Invalid, "chart {chart} has {points} points; limits need at least two (with two or more sites each for X-bar/S)"),

    // --- test data ------------------------------------------------------------------------
    /// The test file cannot be read.
    TestFileInvalid = ("test_file_invalid", Invalid, "{reason}"),
    /// The test file holds no part results.
    TestFileEmpty = ("test_file_empty", Invalid, "the file holds no part results (PRR)"),
    /// The test file names no lot and none was given.
    TestFileNoLot = ("test_file_no_lot", Invalid, "{reason}"),
    /// A test file does not exist.
    TestFileNotFound = ("test_file_not_found", NotFound, "test file {file} does not exist"),
    /// A wafer id appears in several lots.
    WaferAmbiguous = ("wafer_ambiguous", Conflict, "wafer {wafer} appears in lots {lots}: choose one with ?lot="),
    /// A test file names a lot the MES does not know.
    TestFileLotUnknown = ("test_file_lot_unknown", NotFound, "lot {lot} is not known to Pilotline: name the MES lot it belongs to, or import with --create-lots for data from outside the line"),
    /// A product has neither master data nor test data.
    BinProductUnknown = ("bin_product_unknown", NotFound, "product {product} is not known (no product, nor test data of that part type)"),
    /// The lot has no test data the caller can see.
    NoTestData = ("no_test_data", NotFound, "lot {lot} has no test data you can see"),

    // --- the back end of the line: dicing, unit lots, modules ----------------------------
    /// The wafer lot has no probe results to pick from.
    LotNotProbed = ("lot_not_probed", Illegal, "lot {lot} has no wafer-probe results: probe it before dicing"),
    /// An override names a die twice.
    PickOverrideTwice = ("pick_override_twice", Invalid, "overrides: die ({x}, {y}) of wafer {wafer} is named twice"),
    /// An override agrees with the map.
    PickOverrideMoot = ("pick_override_moot", Invalid, "overrides: die ({x}, {y}) of wafer {wafer} is {decision} by the probe map already"),
    /// An override names a die that was not probed.
    PickOverrideUnknownDie = ("pick_override_unknown_die", Invalid, "overrides: wafer {wafer} of lot {lot} has no probed die at ({x}, {y})"),
    /// No die would be picked.
    NothingPicked = ("nothing_picked", Illegal, "no die of lot {lot} is picked: the probe map has no good die"),
    /// A step's bill of materials is not valid.
    BomInvalid = ("bom_invalid", Invalid, "bom of step {step}: {reason}"),
    /// A supply is of another part.
    BomPartMismatch = ("bom_part_mismatch", Invalid, "{item}: the bill of materials takes {part}, not {given}"),
    /// A supply holds too few.
    BomShort = ("bom_short", Illegal, "{item}: {needed} of {part} are needed, {available} are available"),
    /// A calibration schema is not valid.
    CalibrationSchemaInvalid = ("calibration_schema_invalid", Invalid, "calibration schema: {reason}"),
    /// A part's calibration document breaks its product's schema.
    CalibrationInvalid = ("calibration_invalid", Invalid, "calibration of {part}: {field} {reason}"),
    /// A unit list is empty.
    UnitsEmpty = ("units_empty", Invalid, "{field}: name at least one unit"),
    /// Too many units named in one request.
    TooManyUnits = ("too_many_units", Invalid, "{field}: {count} units named; at most {max} in one request"),
    /// A unit is named twice.
    UnitNamedTwice = ("unit_named_twice", Invalid, "{field}: unit {unit} is named twice"),
    /// A unit is not in the lot.
    UnitNotInLot = ("unit_not_in_lot", Invalid, "{field}: unit {unit} is not in lot {lot}"),
    /// A unit is not active.
    UnitNotActive = ("unit_not_active", Invalid, "{field}: unit {unit} is {state}"),
    /// A split must leave a unit.
    UnitSplitTakesAll = ("unit_split_takes_all", Invalid, "units: a split must leave at least one unit in lot {lot}"),
    /// The wafer lot was diced already.
    LotAlreadyDiced = ("lot_already_diced", Illegal, "lot {lot} was diced already, into {unit_lots}"),
    /// A tray size is out of range.
    TrayOutOfRange = ("tray_out_of_range", Invalid, "tray: {tray} units per tray; give 1 to {max}"),
    /// A unit lot does not exist (or is not visible).
    UnitLotNotFound = ("unit_lot_not_found", NotFound, "unit lot {lot} does not exist"),
    /// A unit does not exist (or is not visible).
    UnitNotFound = ("unit_not_found", NotFound, "unit {unit} does not exist"),
    /// A unit lot changed since it was read.
    UnitLotChanged = ("unit_lot_changed", Conflict, "unit lot {lot} was changed by someone else; read it again"),
    /// The step has no bill of materials (it is not an integration step).
    StepHasNoBom = ("step_has_no_bom", Illegal, "step {step} of lot {lot} has no bill of materials: modules are built at an integration step"),
    /// A component lot does not exist.
    ComponentLotNotFound = ("component_lot_not_found", NotFound, "component lot {lot} does not exist"),
    /// A part has no serial yet.
    PartNotSerialised = ("part_not_serialised", Illegal, "{field}: unit {unit} has no serial yet; serialise its lot first"),
    /// A tool has no run that started then.
    RunNotFound = ("run_not_found", NotFound, "equipment {equipment} has no run that started at {run}"),
    /// A module's parts belong to different tenants.
    ModuleTenantsMixed = ("module_tenants_mixed", Invalid, "{field}: part {unit} belongs to another tenant than the module's other parts"),
    /// A lot of dies cannot feed this step.
    UnitLotWrongKind = ("unit_lot_wrong_kind", Invalid, "{field}: lot {lot} holds {kind}s, not {wanted}s"),

    // --- MPW shuttles ---------------------------------------------------------------------
    /// The line's configuration (stepper field, wafer) has not been set.
    LineConfigMissing = ("line_config_missing", Illegal, "the line's configuration (stepper field, wafer) is not set; an admin sets it with PUT /api/v1/line"),
    /// A shuttle does not exist.
    ShuttleNotFound = ("shuttle_not_found", NotFound, "shuttle {shuttle} does not exist"),
    /// A shuttle's status does not allow this.
    ShuttleStateForbids = ("shuttle_state_forbids", Illegal, "shuttle {shuttle} is {status}; {allowed}"),
    /// A calendar date of the shuttle has passed (an engineer may override, with a reason).
    DeadlinePassed = ("deadline_passed", Illegal, "{deadline} of shuttle {shuttle} was {at}; a late {action} needs an engineer's override with a reason"),
    /// A slot shape is not on the shuttle's menu.
    SlotShapeUnknown = ("slot_shape_unknown", Invalid, "slot: shuttle {shuttle} offers no slot {slot} (it offers {offered})"),
    /// The shuttle does not sell this kind of booking.
    BookingKindNotOffered = ("booking_kind_not_offered", Invalid, "shuttle {shuttle} does not sell {kind} bookings"),
    /// An option is not offered.
    OptionUnknown = ("option_unknown", Invalid, "options: shuttle {shuttle} offers no option {option} (it offers {offered})"),
    /// A booking does not exist (or the caller may not see it).
    BookingNotFound = ("booking_not_found", NotFound, "booking {booking} does not exist"),
    /// A booking's status does not allow this.
    BookingStateForbids = ("booking_state_forbids", Illegal, "booking {booking} is {status}; {allowed}"),
    /// A design revision does not exist (or the caller may not see it).
    DesignNotFound = ("design_not_found", NotFound, "design revision {design} does not exist"),
    /// A design that failed its precheck cannot be accepted or submitted.
    PrecheckFailed = ("precheck_failed", Illegal, "design revision {design} failed its precheck ({failed}); upload a corrected revision"),
    /// The shuttle has no layout yet.
    LayoutMissing = ("layout_missing", NotFound, "shuttle {shuttle} has no layout yet; it is computed when booking closes"),
    /// The designs do not fit the stepper field.
    LayoutDoesNotFit = ("layout_does_not_fit", Illegal, "the designs of shuttle {shuttle} do not fit its stepper field: {reason}"),
    /// An override must say why.
    OverrideReasonRequired = ("override_reason_required", Invalid, "override_reason: a late change needs a reason"),
    /// Only a tenant's admin (or a platform admin) manages its users.
    TenantAdminOnly = ("tenant_admin_only", Forbidden, "only an admin of tenant {tenant} may {action}"),

    // --- the web interface's sign-in ----------------------------------------------------------
    /// The user name or password is wrong (which of the two is not said).
    SignInFailed = ("sign_in_failed", Unauthorized, "the user name or password is wrong"),
    /// Too many failed sign-ins: the user's sign-ins are refused for a while.
    SignInThrottled = ("sign_in_throttled", TooMany, "too many failed sign-ins for {user}; try again after {until}"),
    /// The session cookie is unknown, ended or timed out, or its user is disabled.
    SessionInvalid = ("session_invalid", Unauthorized, "your session has ended (signed out, timed out, or the user was disabled); sign in again"),
    /// A form was posted from another site.
    CrossOriginRefused = ("cross_origin_refused", Forbidden, "a form sent from {origin} is refused: this site accepts forms from its own pages only"),
    /// A new password is too short.
    PasswordTooShort = ("password_too_short", Invalid, "password: at least {min} characters"),
}

impl Code {
    /// The refusal with this code and no parameters yet.
    pub fn refusal(self) -> Refusal {
        Refusal::new(self)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request that cannot be carried out: a [`Code`] and its named parameters.
///
/// A refusal is data. Nothing has been changed when one is returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    code: Code,
    params: Vec<(&'static str, String)>,
}

impl Refusal {
    /// A refusal with `code` and no parameters.
    pub fn new(code: Code) -> Self {
        Self {
            code,
            params: Vec::new(),
        }
    }

    /// Adds the parameter `name` (a later value of the same name replaces an earlier one).
    #[must_use]
    pub fn with(mut self, name: &'static str, value: impl fmt::Display) -> Self {
        let value = value.to_string();
        match self.params.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.params.push((name, value)),
        }
        self
    }

    /// The code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The family of problem (and so the HTTP status).
    pub fn kind(&self) -> Kind {
        self.code.kind()
    }

    /// The parameters, in the order they were given.
    pub fn params(&self) -> &[(&'static str, String)] {
        &self.params
    }

    /// The value of parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The English text, rendered from the code's template and the parameters. A parameter
    /// the template names but the refusal lacks is shown as `?`.
    pub fn message(&self) -> String {
        render(self.code.english(), |name| self.param(name))
    }
}

/// Renders `template`, replacing each `{name}` by `value(name)` (or `?`).
pub fn render<'a>(template: &str, value: impl Fn(&str) -> Option<&'a str>) -> String {
    render_with(template, |out, name| {
        out.push_str(value(name).unwrap_or("?"))
    })
}

/// Renders `template`, letting `put` write what stands for each `{name}` (another front end's
/// placeable syntax, say); text outside the braces is copied as it is.
pub fn render_with(template: &str, mut put: impl FnMut(&mut String, &str)) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                put(&mut out, &after[..close]);
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for Refusal {}

impl From<Code> for Refusal {
    fn from(code: Code) -> Self {
        Refusal::new(code)
    }
}

/// Refuses a text field that is empty, too long or holds control characters (a reason code
/// with a NUL in it would be stored and shown to the next person).
pub fn check_text(field: &str, value: &str, max: usize) -> Result<(), Refusal> {
    if value.trim().is_empty() {
        return Err(Code::FieldEmpty.refusal().with("field", field));
    }
    check_optional_text(field, value, max)
}

/// Like [`check_text`], but an empty value is allowed.
pub fn check_optional_text(field: &str, value: &str, max: usize) -> Result<(), Refusal> {
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(Code::FieldControlChars.refusal().with("field", field));
    }
    if value.chars().count() > max {
        return Err(Code::FieldTooLong
            .refusal()
            .with("field", field)
            .with("max", max));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for c in Code::ALL {
            assert!(seen.insert(c.as_str()), "{c} twice");
            assert!(
                c.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{c}"
            );
            assert_eq!(Code::parse(c.as_str()), Some(*c));
        }
    }

    #[test]
    fn english_is_rendered_from_the_parameters() {
        let r = Code::LotHeld
            .refusal()
            .with("lot", "A1")
            .with("holds", "#1 QA");
        assert_eq!(
            r.message(),
            "lot A1 is on hold (#1 QA); every hold must be released first"
        );
        assert_eq!(r.kind().http_status(), 409);
        assert_eq!(
            Code::LotNotFound.refusal().message(),
            "lot ? does not exist"
        );
    }

    #[test]
    fn text_checks_refuse_control_characters() {
        assert_eq!(
            check_text("reason_code", "QA\0", 64).unwrap_err().code(),
            Code::FieldControlChars
        );
        assert_eq!(
            check_text("reason_code", "  ", 64).unwrap_err().code(),
            Code::FieldEmpty
        );
        assert_eq!(
            check_text("reason_code", &"x".repeat(65), 64)
                .unwrap_err()
                .code(),
            Code::FieldTooLong
        );
        assert!(check_text("comment", "line one\nline two", 64).is_ok());
    }
}
