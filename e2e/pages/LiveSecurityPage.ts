/** The Security console's live panel: each site's users as roles at its PostgreSQL server (live mode only). */
import type { Locator, Page } from '@playwright/test'

export class LiveSecurityPage {
  constructor(readonly page: Page) {}

  panel(): Locator { return this.page.getByTestId('live-roles-panel') }
  site(code: string): Locator { return this.page.getByTestId(`live-roles-${code}`) }
  siteAuth(code: string): Locator { return this.page.getByTestId(`live-roles-auth-${code}`) }
  role(code: string, user: string): Locator { return this.site(code).getByTestId(`live-role-${user}`) }
  verifier(code: string, user: string): Locator { return this.site(code).getByTestId(`live-role-verifier-${user}`) }
  error(): Locator { return this.page.getByTestId('live-roles-error') }
}
