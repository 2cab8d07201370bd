/** The first-run and login screen (shown until the console acts as an identity), and the identity badge. */
import { expect, type Locator, type Page } from '@playwright/test'

export interface Credentials { user: string; password: string }

/** The HQ DBA the e2e global setup creates (`iddb serve --admin-password-file`). */
export function adminCredentials(): Credentials {
  return { user: process.env.IDDB_ADMIN_USER ?? 'hqdba', password: process.env.IDDB_ADMIN_PASSWORD ?? 'e2e-hq-dba-pass' }
}

export class LoginPage {
  constructor(readonly page: Page) {}

  screen(): Locator { return this.page.getByTestId('login-screen') }
  firstRun(): Locator { return this.page.getByTestId('first-run') }
  error(): Locator { return this.page.getByTestId('login-error') }
  badge(): Locator { return this.page.getByTestId('identity-badge') }

  /** Opens `url` and logs in (the session is kept for this tab: later page loads resume it). */
  async login(url: string, c: Credentials): Promise<void> {
    await this.page.goto(url)
    await this.submit(c)
    await expect(this.badge()).toHaveAttribute('data-user', c.user)
  }

  async submit(c: Credentials): Promise<void> {
    await expect(this.screen()).toHaveAttribute('data-phase', 'login')
    await this.page.getByTestId('login-user').fill(c.user)
    await this.page.getByTestId('login-password').fill(c.password)
    await this.page.getByTestId('login-submit').click()
  }

  /** First run: creates the HQ DBA with `password` (user name `user`, default hqdba). */
  async createHqDba(url: string, password: string, user = 'hqdba'): Promise<void> {
    await this.page.goto(url)
    await this.firstRunHere(password, user)
  }

  /** The first-run form on the page as it is (the Electron window loads it itself). */
  async firstRunHere(password: string, user = 'hqdba'): Promise<void> {
    await expect(this.firstRun()).toBeVisible({ timeout: 60_000 })
    await this.page.getByTestId('login-user').fill(user)
    await this.page.getByTestId('login-password').fill(password)
    await this.page.getByTestId('login-confirm').fill(password)
    await this.page.getByTestId('login-submit').click()
    await expect(this.badge()).toHaveAttribute('data-role', 'hq-dba')
  }

  async logout(): Promise<void> {
    await this.page.getByTestId('logout').click()
    await expect(this.screen()).toHaveAttribute('data-phase', 'login')
  }
}
