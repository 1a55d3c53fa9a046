// SPDX-License-Identifier: Apache-2.0
// Light and dark: the system's choice unless the header toggle overrides it.

const KEY = 'portcullis.theme'; // not a secret: localStorage is fine
const system = matchMedia('(prefers-color-scheme: dark)');

function stored() {
  try {
    return localStorage.getItem(KEY);
  } catch {
    return null; // storage disabled: follow the system
  }
}

function effective() {
  return stored() ?? (system.matches ? 'dark' : 'light');
}

function apply(button) {
  const t = stored();
  if (t) document.documentElement.dataset.theme = t;
  else delete document.documentElement.dataset.theme;
  const next = effective() === 'dark' ? 'light' : 'dark';
  button.textContent = next === 'dark' ? '☾' : '☀';
  button.title = `Switch to the ${next} theme`;
  button.setAttribute('aria-label', button.title);
}

/**
 * The button flips the theme.  Flipping back to what the system prefers
 * forgets the override, so a user who tried the other theme and returned
 * follows the system again (e.g. its evening switch to dark).
 */
export function initTheme(button) {
  button.addEventListener('click', () => {
    const next = effective() === 'dark' ? 'light' : 'dark';
    try {
      if (next === (system.matches ? 'dark' : 'light')) localStorage.removeItem(KEY);
      else localStorage.setItem(KEY, next);
    } catch {
      document.documentElement.dataset.theme = next; // this page only
      return;
    }
    apply(button);
  });
  system.addEventListener('change', () => apply(button));
  apply(button);
}
