/**
 * Deterministic, realistic data for Infinity Computer Systems: computer parts, phones and software
 * (ITEMS), 102 employees spread over the branches by their staff numbers (CMB 48 / MBI 31 / KDY 23 by
 * default), a stock list per branch, and a sales history of N invoices (default 20,000; ≥ 1,000,000
 * works) over the year before the simulation starts, weighted by branch size, in business hours.
 * Same seed ⇒ same rows. Pure functions: the cluster does the loading (engine/data/load.ts).
 */
import { Rng } from '../sim/rng'
import { siteLocalTime, SITE_UTC_OFFSET_MIN } from '../sim/kernel'
import type { SqlValue } from '../site/sqljs'
import type { SiteCode, TopologySpec } from '../topology/types'

export const DEFAULT_SALES = 20_000

const CATALOG: { cat: string; brands: string[]; models: string[]; price: [number, number] }[] = [
  { cat: 'CPU', brands: ['Intel', 'AMD'], models: ['Core i3-12100', 'Core i5-13400', 'Core i7-13700K', 'Core i9-14900K', 'Ryzen 5 7600', 'Ryzen 7 7800X3D', 'Ryzen 9 7950X'], price: [95, 620] },
  { cat: 'GPU', brands: ['NVIDIA', 'AMD', 'ASUS', 'MSI'], models: ['RTX 4060', 'RTX 4070 Super', 'RTX 4080', 'RX 7600', 'RX 7800 XT'], price: [280, 1250] },
  { cat: 'Motherboard', brands: ['ASUS', 'Gigabyte', 'MSI', 'ASRock'], models: ['B760M', 'Z790 Pro', 'B650 Plus', 'X670E'], price: [110, 480] },
  { cat: 'Memory', brands: ['Kingston', 'Corsair', 'Crucial', 'G.Skill'], models: ['8GB DDR4-3200', '16GB DDR4-3600', '16GB DDR5-5600', '32GB DDR5-6000'], price: [22, 140] },
  { cat: 'SSD', brands: ['Samsung', 'WD', 'Kingston', 'Crucial'], models: ['500GB NVMe', '1TB NVMe', '2TB NVMe', '1TB SATA'], price: [40, 190] },
  { cat: 'HDD', brands: ['Seagate', 'WD', 'Toshiba'], models: ['1TB 7200rpm', '2TB 7200rpm', '4TB NAS'], price: [45, 130] },
  { cat: 'Power Supply', brands: ['Corsair', 'Cooler Master', 'Seasonic'], models: ['550W Bronze', '650W Gold', '850W Gold'], price: [55, 160] },
  { cat: 'Case', brands: ['NZXT', 'Cooler Master', 'Fractal'], models: ['Mid Tower', 'Mini Tower', 'Full Tower'], price: [50, 180] },
  { cat: 'Monitor', brands: ['Dell', 'LG', 'Samsung', 'AOC'], models: ['22in FHD', '24in IPS', '27in QHD', '32in 4K'], price: [110, 520] },
  { cat: 'Keyboard', brands: ['Logitech', 'Microsoft', 'Razer'], models: ['Wired Keyboard', 'Wireless Keyboard', 'Mechanical Keyboard'], price: [12, 140] },
  { cat: 'Mouse', brands: ['Logitech', 'Microsoft', 'Razer'], models: ['Optical Mouse', 'Wireless Mouse', 'Gaming Mouse'], price: [8, 90] },
  { cat: 'Laptop', brands: ['Dell', 'HP', 'Lenovo', 'ASUS', 'Acer'], models: ['14in Ultrabook', '15.6in Business', '16in Gaming'], price: [520, 2100] },
  { cat: 'Desktop PC', brands: ['Dell', 'HP', 'Lenovo', 'Infinity'], models: ['Office Tower', 'Mini PC', 'Workstation'], price: [420, 1900] },
  { cat: 'Phone', brands: ['Samsung', 'Apple', 'Xiaomi', 'Huawei', 'Nokia', 'OPPO'], models: ['Entry 64GB', 'Mid 128GB', 'Pro 256GB', 'Flagship 512GB'], price: [90, 1400] },
  { cat: 'Tablet', brands: ['Samsung', 'Apple', 'Lenovo'], models: ['10in Wi-Fi', '11in LTE'], price: [160, 900] },
  { cat: 'Networking', brands: ['TP-Link', 'Cisco', 'D-Link'], models: ['Wi-Fi 6 Router', '8-port Gigabit Switch', 'USB Wi-Fi Adapter'], price: [15, 240] },
  { cat: 'Printer', brands: ['HP', 'Canon', 'Epson'], models: ['Inkjet AIO', 'Mono Laser', 'Colour Laser'], price: [70, 420] },
  { cat: 'Software', brands: ['Microsoft', 'Kaspersky', 'Adobe'], models: ['Windows 11 Pro', 'Office 2021', 'Antivirus 1yr', 'Acrobat Std'], price: [30, 290] },
  { cat: 'Accessory', brands: ['Anker', 'Belkin', 'Ugreen'], models: ['USB-C Cable', 'Power Bank 10000mAh', 'Phone Charger 25W', 'HDMI Cable'], price: [6, 45] },
]

const FIRST = ['Nimal', 'Kamal', 'Sunil', 'Ruwan', 'Chamari', 'Dilani', 'Ishara', 'Kasun', 'Tharindu', 'Sanduni', 'Amal', 'Priya', 'Rahul', 'Anjali', 'Vikram', 'Sneha', 'Arjun', 'Kavya', 'Rohan', 'Meera', 'Aditya', 'Pooja', 'Lakshan', 'Nadeesha', 'Hasini', 'Suresh', 'Deepa', 'Farhan', 'Zainab', 'Roshan']
const LAST = ['Perera', 'Fernando', 'Silva', 'Jayasuriya', 'Wickramasinghe', 'Bandara', 'Rajapaksa', 'Gunawardena', 'Herath', 'Dissanayake', 'Sharma', 'Patel', 'Iyer', 'Desai', 'Kulkarni', 'Mehta', 'Nair', 'Rao', 'Mendis', 'Karunaratne']

export type Row = SqlValue[]

export interface Dataset {
  items: Row[] // ITEMNO, DESCRIPTION, CATEGORY, BRAND, LISTPRICE
  employees: Row[] // EMPNO, NAME, POSITION, DEPT, BRCODE, SALARY, CLEARANCE
  stocks: Map<SiteCode, Row[]> // STOCKCODE, ITEMNO, QTY, UNITPRICE, LASTIN, NEXTIN
}

const round2 = (x: number) => Math.round(x * 100) / 100
const pad = (n: number) => (n < 10 ? `0${n}` : String(n))

function dateStr(ms: number): string {
  const p = siteLocalTime(ms)
  return `${p.y}-${pad(p.mo)}-${pad(p.d)}`
}

/** Staff per branch: the topology's staff numbers (48/31/23 by default). */
export function staffPlan(topo: TopologySpec): { site: SiteCode; staff: number }[] {
  return topo.sites.map((s) => ({ site: s.code, staff: s.staff }))
}

export function makeDataset(seed: number, topo: TopologySpec, startMs: number): Dataset {
  const rng = new Rng((seed ^ 0x5eed1234) >>> 0)
  const items: Row[] = []
  let itemno = 1001
  for (const c of CATALOG) {
    for (const b of c.brands) for (const m of c.models) {
      if (rng.chance(0.25)) continue
      const [lo, hi] = c.price
      const price = round2(lo + (hi - lo) * rng.next() ** 1.4) - 0.01
      items.push([itemno++, `${b} ${m}`, c.cat, b, round2(price)])
    }
  }
  const employees: Row[] = []
  let empno = 1
  for (const { site, staff } of staffPlan(topo)) {
    for (let i = 0; i < staff; i++) {
      let position: string, dept: string, salary: number, clearance: number
      if (i === 0) { position = 'Branch Manager'; dept = 'Management'; salary = 5200; clearance = 4 }
      else if (i === 1) { position = 'Database Administrator'; dept = 'IT'; salary = 4100; clearance = 4 }
      else if (i < 4) { position = 'Accountant'; dept = 'Finance'; salary = 3000; clearance = 3 }
      else if (i < 4 + Math.max(1, Math.round(staff * 0.15))) { position = 'Technician'; dept = 'Service'; salary = 2400; clearance = 2 }
      else if (i < 4 + Math.max(2, Math.round(staff * 0.3))) { position = 'Storekeeper'; dept = 'Stores'; salary = 1900; clearance = 2 }
      else { position = 'Sales Executive'; dept = 'Sales'; salary = 1700; clearance = 1 }
      salary = round2(salary * (0.9 + 0.25 * rng.next()))
      employees.push([empno++, `${rng.pick(FIRST)} ${rng.pick(LAST)}`, position, dept, site, salary, clearance])
    }
  }
  const stocks = new Map<SiteCode, Row[]>()
  for (const s of topo.sites) {
    const rows: Row[] = []
    for (const it of items) {
      if (!rng.chance(0.8)) continue
      const last = startMs - rng.int(1, 60) * 86_400_000
      const next = startMs + rng.int(3, 45) * 86_400_000
      rows.push([`${s.code}-${it[0]}`, it[0], rng.int(0, 250), round2(Number(it[4]) * 0.78), dateStr(last), dateStr(next)])
    }
    stocks.set(s.code, rows)
  }
  return { items, employees, stocks }
}

/**
 * Streams the sales history in invoice order (INVNO 1..n): calls `emit(site, row)` per sale
 * with row = [INVNO, BRCODE, ITEMNO, QTY, UNITPRICE, AMOUNT, SOLD_AT, EMPNO].
 * Resumable by chunks: call with from/to ranges in order.
 */
export class SalesStream {
  private rng: Rng
  private weights: { site: SiteCode; cum: number }[] = []
  private sellers = new Map<SiteCode, number[]>()
  private next = 1
  private readonly days: number
  private dayCache = new Map<number, string>()
  private readonly firstDayMs: number

  constructor(seed: number, topo: TopologySpec, private ds: Dataset, readonly total: number, startMs: number) {
    this.rng = new Rng((seed ^ 0x5a1e5) >>> 0)
    const totalStaff = topo.sites.reduce((a, s) => a + s.staff, 0)
    let cum = 0
    for (const s of topo.sites) { cum += s.staff / totalStaff; this.weights.push({ site: s.code, cum }) }
    this.weights[this.weights.length - 1].cum = 1
    for (const s of topo.sites) {
      const staff = ds.employees.filter((e) => e[4] === s.code)
      const sales = staff.filter((e) => e[3] === 'Sales').map((e) => Number(e[0]))
      this.sellers.set(s.code, sales.length ? sales : staff.map((e) => Number(e[0])))
    }
    this.days = 365
    // midnight (site time) 365 days before the start day
    const off = SITE_UTC_OFFSET_MIN * 60_000
    const startLocalMidnight = Math.floor((startMs + off) / 86_400_000) * 86_400_000 - off
    this.firstDayMs = startLocalMidnight - this.days * 86_400_000
  }

  get produced(): number { return this.next - 1 }
  get done(): boolean { return this.next > this.total }

  /** Produces up to `count` more sales. */
  produce(count: number, emit: (site: SiteCode, row: Row) => void): number {
    const end = Math.min(this.total, this.next + count - 1)
    const items = this.ds.items
    const nItems = items.length
    const rng = this.rng
    const n = this.total
    for (let inv = this.next; inv <= end; inv++) {
      const pos = ((inv - 1) / n) * this.days
      const day = Math.floor(pos)
      const secs = 9 * 3600 + Math.floor((pos - day) * 9 * 3600)
      let date = this.dayCache.get(day)
      if (date === undefined) {
        date = dateStr(this.firstDayMs + day * 86_400_000 + 12 * 3600_000)
        if (this.dayCache.size > 4) this.dayCache.clear()
        this.dayCache.set(day, date)
      }
      const soldAt = `${date} ${pad(Math.floor(secs / 3600))}:${pad(Math.floor((secs % 3600) / 60))}:${pad(secs % 60)}`
      const r = rng.next()
      let site = this.weights[0].site
      for (const w of this.weights) if (r < w.cum) { site = w.site; break }
      const item = items[Math.floor(nItems * rng.next() ** 1.6)]
      const cat = item[2]
      const qty = cat === 'Laptop' || cat === 'Desktop PC' || cat === 'Phone' || cat === 'Tablet' ? 1 + (rng.next() < 0.1 ? 1 : 0) : 1 + Math.floor(rng.next() ** 3 * 5)
      const disc = rng.next()
      const unit = round2(Number(item[4]) * (disc < 0.7 ? 1 : disc < 0.9 ? 0.95 : 0.9))
      const sellers = this.sellers.get(site)!
      const emp = sellers[Math.floor(rng.next() * sellers.length)]
      emit(site, [inv, site, item[0], qty, unit, round2(unit * qty), soldAt, emp])
    }
    const made = end - this.next + 1
    this.next = end + 1
    return made
  }
}
