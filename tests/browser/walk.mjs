// Walks each persona through Pilotline's web interface in Debian's Chromium (headless), as a
// person would: the operator on the floor terminal and the lot page, the start-up booking a
// slot and uploading a design, the manager on the dashboard, a wafer map and a control chart.
// axe-core checks the main page of each persona. Screenshots go to the artefacts directory.
//
// Usage: node walk.mjs PLAN.json — the plan (written by the Rust test that started the server)
// names the server, the people and their passwords, and the objects to use. Prints one JSON
// line per check; exits non-zero on the first failure.
import { chromium } from "playwright-core";
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";

const plan = JSON.parse(readFileSync(process.argv[2], "utf8"));
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
mkdirSync(plan.artifacts, { recursive: true });

const browser = await chromium.launch({
  executablePath: plan.chromium || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

function report(check, detail) { console.log(JSON.stringify({ check, ...detail })); }
function fail(check, detail) { report(check, { ok: false, ...detail }); throw new Error(check + ": " + JSON.stringify(detail)); }
async function shot(page, name) { await page.screenshot({ path: `${plan.artifacts}/${name}.png`, fullPage: true }); }

async function signIn(persona, lang) {
  // bypassCSP lets the test inject axe-core; the pages themselves allow no inline script.
  const context = await browser.newContext({ bypassCSP: true, locale: lang, extraHTTPHeaders: { "Accept-Language": lang } });
  const page = await context.newPage();
  await page.goto(plan.base + "/ui/");
  await page.getByLabel(lang.startsWith("zh") ? "用户名" : "User name").fill(persona.user);
  await page.getByLabel(lang.startsWith("zh") ? "密码" : "Password").fill(persona.password);
  await submit(page, () => page.keyboard.press("Enter"));
  return { context, page };
}

// Does what submits a form and waits for the page it leads to.
async function submit(page, act) {
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), act()]);
}

async function axe(page, name) {
  await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  if (bad.length) { fail("axe " + name, { violations: bad.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n) => n.target) })) }); }
  report("axe " + name, { ok: true, checked: result.violations.length + " minor or moderate" });
}

async function operator() {
  const { context, page } = await signIn(plan.people.operator, "en");
  if (!page.url().endsWith("/ui/floor")) { fail("operator starts on the floor terminal", { url: page.url() }); }
  await axe(page, "floor terminal");
  // A scan of the lot and a tool; the outcome and, for a refusal, its code.
  async function scan(tool) {
    await page.locator("#lot").fill(plan.floor.lot);
    await page.locator("#tool").fill(tool);
    await submit(page, () => page.keyboard.press("Enter"));
    const outcome = await page.locator("[data-outcome]").getAttribute("data-outcome").catch(() => null);
    const code = await page.locator("[data-code]").getAttribute("data-code").catch(() => null);
    return { outcome, code };
  }
  // The demo's simulated line shares the tools: a free one may be taken or go down before
  // the scan, which the terminal refuses with a code; the operator scans the next free tool.
  const taken = new Set(["equipment_busy", "equipment_unavailable"]);
  for (const [i, step] of plan.floor.steps.entries()) {
    let tool = null;
    let last = null;
    for (const candidate of step.tools) {
      last = await scan(candidate);
      if (last.outcome === "floor-tracked-in") { tool = candidate; break; }
      if (!taken.has(last.code)) { break; }
      report("floor scan", { ok: true, step: i + 1, refused: last.code, tool: candidate });
    }
    if (tool === null) { fail("floor scan", { step: i + 1, expected: "floor-tracked-in", ...last }); }
    await shot(page, `operator-floor-step${i + 1}-floor-tracked-in`);
    report("floor scan", { ok: true, step: i + 1, outcome: "floor-tracked-in", tool });
    const out = await scan(tool);
    if (out.outcome !== "floor-tracked-out") { fail("floor scan", { step: i + 1, expected: "floor-tracked-out", ...out }); }
    await shot(page, `operator-floor-step${i + 1}-floor-tracked-out`);
    report("floor scan", { ok: true, step: i + 1, outcome: out.outcome });
  }
  await page.goto(`${plan.base}/ui/lots/${plan.floor.lot}`);
  await page.locator("form[action$='/hold'] input[name=reason_code]").fill("ENG");
  await page.locator("form[action$='/hold'] input[name=comment]").fill("check the mask");
  await submit(page, () => page.getByRole("button", { name: "Place hold" }).click());
  if (await page.locator("[aria-current=step]").count() !== 1) { fail("route strip", {}); }
  if (!(await page.locator(".badge.held").count())) { fail("hold placed", { url: page.url() }); }
  await shot(page, "operator-lot-held");
  report("hold placed", { ok: true });
  await page.locator("form[action$='/release'] input[name=comment]").fill("mask is fine");
  await submit(page, () => page.getByRole("button", { name: "Release hold" }).click());
  if (await page.locator("dd .badge.held").count()) { fail("hold released", {}); }
  await shot(page, "operator-lot-released");
  report("hold released", { ok: true });
  // A split lot's family as a graph a person can click through, and its metrology.
  await page.goto(`${plan.base}/ui/lots/${plan.family.lot}`);
  const lanes = await page.locator("svg.genealogy a").count();
  if (lanes < 2) { fail("genealogy graph", { lanes }); }
  if (!(await page.locator("[data-metrology]").count())) { fail("lot metrology", {}); }
  await shot(page, "operator-lot-family");
  await submit(page, () => page.locator(`svg.genealogy a:not([href$='/${plan.family.lot}'])`).first().click());
  if (page.url().endsWith(`/ui/lots/${plan.family.lot}`)) { fail("genealogy click", { url: page.url() }); }
  report("genealogy graph", { ok: true, lanes });
  await context.close();
}

async function startup() {
  const { context, page } = await signIn(plan.people.startup, "zh-CN");
  if (!page.url().endsWith("/ui/portal")) { fail("start-up starts on the portal", { url: page.url() }); }
  await axe(page, "start-up portal");
  await submit(page, () => page.locator(`a[href="/ui/shuttles/${plan.shuttle}"]`).click());
  await submit(page, () => page.getByRole("button", { name: "预订此槽位" }).click());
  if (!page.url().includes("/ui/bookings/")) { fail("booked", { url: page.url(), text: (await page.textContent("main")).slice(0, 300) }); }
  await shot(page, "startup-booked");
  report("booked", { ok: true, url: page.url() });
  await page.locator("#design").setInputFiles(plan.design);
  await submit(page, () => page.getByRole("button", { name: "上传并预检" }).click());
  const verdict = await page.locator("[data-verdict]").first().getAttribute("data-verdict").catch(() => null);
  if (verdict !== "passed") { fail("design verdict", { verdict }); }
  await shot(page, "startup-design-verdict");
  report("design verdict", { ok: true, verdict });
  await submit(page, () => page.getByRole("button", { name: "提交此版本" }).click());
  if (!page.url().endsWith("done=submitted")) { fail("design submitted", { url: page.url() }); }
  report("design submitted", { ok: true });
  await context.close();
}

async function manager() {
  const { context, page } = await signIn(plan.people.manager, "en");
  if (!page.url().endsWith("/ui/dashboard")) { fail("manager starts on the dashboard", { url: page.url() }); }
  await axe(page, "manager dashboard");
  await shot(page, "manager-dashboard");
  await page.goto(`${plan.base}/ui/wafers/${plan.wafer.id}?lot=${plan.wafer.lot}`);
  if (!(await page.locator("figure svg").count())) { fail("wafer map", { url: page.url() }); }
  await shot(page, "manager-wafer-map");
  report("wafer map", { ok: true });
  await page.goto(`${plan.base}/ui/spc`);
  await submit(page, () => page.locator("a[href^='/ui/spc/']").first().click());
  if (!(await page.locator("figure svg polyline").count())) { fail("control chart", { url: page.url() }); }
  await shot(page, "manager-control-chart");
  report("control chart", { ok: true, url: page.url() });
  // A module's genealogy, clicked down to its sensor part and the part's wafer lot.
  await page.goto(`${plan.base}/ui/modules`);
  await submit(page, () => page.locator("a[href^='/ui/unit-lots/M-']").first().click());
  await submit(page, () => page.locator("a[href^='/ui/units/M-']").first().click());
  await axe(page, "module genealogy");
  await shot(page, "manager-module-genealogy");
  await submit(page, () => page.locator("ul.tree a[href^='/ui/units/GS-']").first().click());
  const source = page.locator("a[href='/ui/lots/A26006']").first();
  if (!(await source.count())) { fail("part traces to its wafer lot", { url: page.url() }); }
  await submit(page, () => source.click());
  if (!page.url().endsWith("/ui/lots/A26006")) { fail("wafer lot page", { url: page.url() }); }
  report("module genealogy", { ok: true, url: page.url() });
  await context.close();
}

try {
  await operator();
  await startup();
  await manager();
  report("done", { ok: true });
} finally {
  await browser.close();
}
