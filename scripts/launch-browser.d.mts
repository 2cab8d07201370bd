export function launcherHtml(url: string): string
export function prepareBrowserLaunch(url: string, opts?: { asRoot?: boolean; baseDir?: string }): { dir: string; launcher: string; args: string[]; cleanup: () => void }
