// SPDX-License-Identifier: Apache-2.0
/*
 * The web console in Debian's headless Chromium, against a live daemon
 * (tests/netns/test_console.sh sets up the lab and runs this inside the
 * gateway's namespace).  Prints "ok - ..." / "not ok - ..." lines, which
 * the shell test numbers; exits 1 if any step failed.
 *
 * Environment: PC_URL (http://127.0.0.1:PORT), PC_VIEWER, PC_OPERATOR
 * (tokens), PC_BLOCKED_FROM (the address whose blocked connection the
 * shell makes when this prints "ready: blocked connection"), PC_SHOTS (a
 * directory for screenshots).
 */
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { createInterface } from 'node:readline';

const env = (k) => {
	if (!process.env[k]) throw new Error(`${k} is not set`);
	return process.env[k];
};
const url = env('PC_URL');
const shots = env('PC_SHOTS');
let failed = 0;

function ok(cond, what, detail = '') {
	console.log(`${cond ? 'ok' : 'not ok'} - ${what}${!cond && detail ? ` (${detail})` : ''}`);
	if (!cond) failed++;
	return cond;
}

/* Wait for the shell to say it has done its part ("go" on stdin). */
const stdin = createInterface({ input: process.stdin });
const lines = stdin[Symbol.asyncIterator]();
async function handOff(what) {
	console.log(`ready: ${what}`);
	const { value } = await lines.next();
	return value;
}

mkdirSync(shots, { recursive: true });
const browser = await chromium.launch({
	executablePath: '/usr/bin/chromium',
	// as root, no sandbox; the rest keeps Chromium off the network
	args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
		'--disable-background-networking', '--disable-component-update',
		'--disable-sync'],
});
const problems = []; // CSP refusals, script errors, failed requests
try {
	for (const scheme of ['light', 'dark']) {
		const ctx = await browser.newContext({ colorScheme: scheme, viewport: { width: 1280, height: 800 } });
		const page = await ctx.newPage();
		// (a refused token's 401 is logged as a failed load: expected)
		page.on('console', (m) => {
			if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`);
		});
		page.on('pageerror', (e) => problems.push(`page: ${e.message}`));
		const requests = [];
		page.on('request', (r) => requests.push(r.url()));

		await page.goto(url + '/');
		ok(page.url() === url + '/ui/', `${scheme}: / goes to the console`, page.url());
		await page.waitForSelector('#token');
		await page.screenshot({ path: `${shots}/login-${scheme}.png` });

		await page.fill('#token', 'pct_00000000_not-a-token');
		await page.click('#login');
		const err = await page.waitForSelector('#login-error:not(:empty)', { timeout: 5000 }).catch(() => null);
		ok(err && /not accepted/i.test(await err.textContent()), `${scheme}: a wrong token is refused at the login form`);

		const token = scheme === 'light' ? env('PC_VIEWER') : env('PC_OPERATOR');
		await page.fill('#token', token);
		await page.click('#login');
		const who = await page.waitForSelector('#whoami', { timeout: 5000 }).catch(() => null);
		ok(who && (await who.textContent()).includes(scheme === 'light' ? 'viewer' : 'operator'),
			`${scheme}: logged in, the header names the role`);
		const gw = await page.waitForSelector('#gateways td', { timeout: 5000 }).catch(() => null);
		ok(gw, `${scheme}: the overview lists the gateway`);
		const live = await page.waitForSelector('#stream-state:text-is("live")', { timeout: 5000 }).catch(() => null);
		ok(live, `${scheme}: the deny stream is live`);

		if (scheme === 'light') {
			await handOff('blocked connection');
			const from = env('PC_BLOCKED_FROM');
			const row = await page.waitForSelector(`#denies .deny-row:has-text("${from}")`, { timeout: 10000 }).catch(() => null);
			ok(row, 'a blocked connection appears in the live denies');
		}
		await page.screenshot({ path: `${shots}/overview-${scheme}.png`, fullPage: true });

		const leaked = requests.filter((u) => u.includes('pct_'));
		ok(leaked.length === 0, `${scheme}: no token in any URL`, leaked.join(' '));
		const foreign = requests.filter((u) => !u.startsWith(url + '/') && !u.startsWith('data:'));
		ok(foreign.length === 0, `${scheme}: every request stays on the gateway`, foreign.join(' '));
		const stored = await page.evaluate(() => [document.cookie, JSON.stringify(localStorage)]);
		ok(stored[0] === '' && !stored[1].includes('pct_'), `${scheme}: no token in a cookie or localStorage`, stored.join(' | '));

		await page.click('#logout');
		await page.waitForSelector('#token', { timeout: 5000 });
		const left = await page.evaluate(() => JSON.stringify(sessionStorage));
		ok(!left.includes('pct_'), `${scheme}: logging out forgets the token`);
		await ctx.close();
	}
	ok(problems.length === 0, 'no CSP refusal or script error in the console', problems.join(' | '));
} catch (e) {
	ok(false, 'the console test ran to its end', String(e && e.stack || e));
} finally {
	await browser.close();
	stdin.close();
}
process.exit(failed ? 1 : 0);
