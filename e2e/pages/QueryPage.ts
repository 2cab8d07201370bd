/** The Query console as a user drives it: write SQL in the editor, run it (at a site), read the result grid. */
import type { Page } from '@playwright/test'

export class QueryPage {
  constructor(readonly page: Page) {}
  console() { return this.page.getByTestId('query-console') }
  editor() { return this.page.getByTestId('sql-editor').locator('.cm-content') }
  async write(sql: string): Promise<void> {
    await this.editor().click()
    await this.page.keyboard.press('ControlOrMeta+a')
    await this.page.keyboard.press('Delete')
    await this.page.keyboard.insertText(sql)
  }
  async run(): Promise<void> { await this.page.getByTestId('query-run').click() }
  async runAt(site: string): Promise<void> {
    await this.page.getByTestId('query-site').selectOption(site)
    await this.run()
  }
  headers() { return this.page.getByTestId('result-grid').locator('.head .cell') }
}
