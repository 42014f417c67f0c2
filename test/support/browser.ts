/**
 * The browser the dashboard tests drive: headless Chromium from Debian through playwright-core
 * (bench/support/browser.ts, shared with the dashboard bench, which cannot import test/), and
 * `gantry dashboard` as a process.
 */
export { type BrowserSession, CHROMIUM, chromiumMissing, openBrowser } from '../../bench/support/browser.js';
export { type DashboardProcess, startDashboard } from '../../bench/support/dashboard-process.js';
