/** The Security console: users, logins, the sessions this console opened, data labels and the audit log. */
import { expect, type Locator, type Page } from '@playwright/test'

export type Level = 'PUBLIC' | 'INTERNAL' | 'CONFIDENTIAL' | 'SECRET'

export interface LoginOptions {
  /** The user's home site (default: the login site). */
  home?: string
  /** The session level (default: the user's clearance). */
  level?: Level
}

export class SecurityPage {
  constructor(readonly page: Page) {}

  console(): Locator { return this.page.getByTestId('security-console') }
  users(): Locator { return this.page.getByTestId('sec-users') }
  userRow(name: string): Locator { return this.page.getByTestId(`user-${name}`) }
  sessions(): Locator { return this.page.getByTestId('sec-sessions') }
  /** The rows of this console's sessions of one user. */
  sessionRows(user: string): Locator { return this.sessions().locator(`tr[data-user="${user}"]`) }
  session(id: string): Locator { return this.page.getByTestId(`session-${id}`) }
  labels(): Locator { return this.page.getByTestId('sec-labels') }
  audit(): Locator { return this.page.getByTestId('sec-audit') }
  /** Audit rows of one user, refused ones only when `refused` is true. */
  auditRows(user: string, refused?: boolean): Locator {
    return this.audit().locator(`tr[data-user="${user}"]${refused === undefined ? '' : `[data-ok="${!refused}"]`}`)
  }
  addError(): Locator { return this.page.getByTestId('sec-add-error') }
  addResult(): Locator { return this.page.getByTestId('sec-add-result') }
  loginError(): Locator { return this.page.getByTestId('sec-login-error') }
  loginResult(): Locator { return this.page.getByTestId('sec-login-result') }

  /** Fills and submits the add-user form (does not wait for the outcome). */
  async addUser(site: string, name: string, password: string, clearance: Level): Promise<void> {
    await this.page.getByTestId('sec-add-site').selectOption(site)
    await this.page.getByTestId('sec-add-user').fill(name)
    await this.page.getByTestId('sec-add-password').fill(password)
    await this.page.getByTestId('sec-add-clearance').selectOption(clearance)
    await this.page.getByTestId('sec-add-submit').click()
  }

  /** Fills and submits the login form (does not wait for the outcome). */
  async login(site: string, user: string, password: string, opts: LoginOptions = {}): Promise<void> {
    await this.page.getByTestId('sec-login-site').selectOption(site)
    await this.page.getByTestId('sec-login-user').fill(user)
    await this.page.getByTestId('sec-login-home').selectOption(opts.home ?? '')
    await this.page.getByTestId('sec-login-password').fill(password)
    await this.page.getByTestId('sec-login-level').selectOption(opts.level ?? '')
    await expect(this.page.getByTestId('sec-login-submit')).toBeEnabled()
    await this.page.getByTestId('sec-login-submit').click()
  }

  /** The id (S…) of this console's single session of `user`. */
  async sessionIdOf(user: string): Promise<string> {
    const row = this.sessionRows(user)
    await expect(row).toHaveCount(1)
    const tid = await row.getAttribute('data-testid')
    return tid!.replace(/^session-/, '')
  }

  /** The operator sets a new password for a user. */
  async resetPassword(user: string, password: string): Promise<void> {
    await this.page.getByTestId('sec-reset-user').selectOption(user)
    await this.page.getByTestId('sec-reset-password').fill(password)
    await this.page.getByTestId('sec-reset-submit').click()
  }

  async logout(id: string): Promise<void> {
    await this.page.getByTestId(`session-logout-${id}`).click()
  }
}
