import { resolve } from 'node:path'
import { defineConfig } from 'electron-vite'
import vue from '@vitejs/plugin-vue'
import { NONCE_PLACEHOLDER } from './src-main/browser-host/csp'

export default defineConfig({
  main: {
    build: {
      outDir: 'out/main',
      rollupOptions: { input: { index: resolve(import.meta.dirname, 'src-main/main/index.ts') } },
    },
  },
  preload: {
    build: {
      outDir: 'out/preload',
      // Sandboxed preloads cannot require node_modules: bundle everything into one CommonJS file.
      externalizeDeps: false,
      rollupOptions: {
        input: { index: resolve(import.meta.dirname, 'src-main/preload/index.ts') },
        output: { format: 'cjs', entryFileNames: '[name].cjs', codeSplitting: false },
      },
    },
  },
  renderer: {
    root: resolve(import.meta.dirname, 'src-renderer'),
    resolve: { alias: { '@renderer': resolve(import.meta.dirname, 'src-renderer/src') } },
    plugins: [vue()],
    // No 'unsafe-inline' styles: Vite puts this placeholder on the <style>/<link>/<script> tags it writes and on
    // <meta property="csp-nonce">; both hosts replace it with a fresh nonce per page (browser-host/csp.ts).
    html: { cspNonce: NONCE_PLACEHOLDER },
    build: {
      outDir: resolve(import.meta.dirname, 'out/renderer'),
      // The console ships as a desktop app and from the browser host: minify so first paint parses less.
      minify: true,
      chunkSizeWarningLimit: 1200,
      rollupOptions: { input: { index: resolve(import.meta.dirname, 'src-renderer/index.html') } },
    },
  },
})
