/**
 * Writers of the bag data sets, one file at a time: `logs-NN.jsonl` (JSON
 * lines of made-up log records) and `text-NN.txt` (lines of Zipf-distributed
 * words). Bytes are assembled in a large buffer, hashed and written in one
 * pass; the file appears under its name only once complete.
 * @module
 */
import { createHash } from "node:crypto";
import { closeSync, openSync, renameSync, writeSync } from "node:fs";
import { join } from "node:path";
import { Modulus, Stream, Zipf } from "./random.js";
import { ByteTable, personNames, tagVocab, textVocab } from "./vocab.js";

/** Data set ids in the stream keys. */
const DS_LOGS = 2;
const DS_TEXT = 3;

export const LOGS_FILES = 8;
export const TEXT_FILES = 8;
const LOGS_RECORDS = 250_000;
const TEXT_LINES = 480_000;

const BUFFER_BYTES = 1 << 22;
/** Room kept free for one more record or line before flushing. */
const MARGIN = 1 << 12;

/** Buffered, hashed output to `<path>.tmp`, renamed to `path` on close. */
class Output {
  readonly buf = new Uint8Array(BUFFER_BYTES);
  pos = 0;
  private bytes = 0;
  private readonly fd: number;
  private readonly hash = createHash("sha256");

  constructor(private readonly path: string) {
    this.fd = openSync(`${path}.tmp`, "w");
  }

  /** Flush when fewer than MARGIN bytes are free. */
  reserve(): void {
    if (this.pos > BUFFER_BYTES - MARGIN) this.flush();
  }

  ascii(s: Uint8Array): void {
    this.buf.set(s, this.pos);
    this.pos += s.length;
  }

  /** Entry i of a byte table. */
  entry(t: ByteTable, i: number): void {
    const buf = this.buf;
    const bytes = t.bytes;
    let p = this.pos;
    for (let j = t.start[i]!, end = t.start[i + 1]!; j < end; j++) buf[p++] = bytes[j]!;
    this.pos = p;
  }

  byte(c: number): void {
    this.buf[this.pos++] = c;
  }

  /** A non-negative integer in decimal. */
  decimal(n: number): void {
    let digits = 1;
    for (let t = n; t >= 10; t = Math.floor(t / 10)) digits++;
    const buf = this.buf;
    let p = this.pos + digits;
    this.pos = p;
    do {
      buf[--p] = 48 + (n % 10);
      n = Math.floor(n / 10);
    } while (n > 0);
  }

  /** Two decimal digits, zero-padded. */
  twoDigits(n: number): void {
    this.buf[this.pos++] = 48 + Math.floor(n / 10);
    this.buf[this.pos++] = 48 + (n % 10);
  }

  private flush(): void {
    const chunk = this.buf.subarray(0, this.pos);
    this.hash.update(chunk);
    for (let off = 0; off < chunk.length; ) off += writeSync(this.fd, chunk, off);
    this.bytes += this.pos;
    this.pos = 0;
  }

  close(): { bytes: number; sha256: string } {
    this.flush();
    closeSync(this.fd);
    renameSync(`${this.path}.tmp`, this.path);
    return { bytes: this.bytes, sha256: this.hash.digest("hex") };
  }
}

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

export interface Written {
  readonly name: string;
  readonly bytes: number;
  readonly sha256: string;
}

// ---------------------------------------------------------------- logs

/** 2023-01-01T00:00:00Z; every timestamp falls within the (non-leap) year 2023. */
const TS_BASE_EPOCH = 1672531200;
const DAYS_IN_MONTH_2023 = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** "2023-MM-DDT" for each day of 2023. */
function dayPrefixes(): Uint8Array[] {
  const out: Uint8Array[] = [];
  DAYS_IN_MONTH_2023.forEach((days, m) => {
    for (let d = 1; d <= days; d++) out.push(ascii(`2023-${String(m + 1).padStart(2, "0")}-${String(d).padStart(2, "0")}T`));
  });
  const check = new Date((TS_BASE_EPOCH + 364 * 86400) * 1000).toISOString().slice(0, 11);
  if (String.fromCharCode(...out[364]!) !== check) throw new Error(`calendar table is wrong: ${check}`);
  return out;
}

let logsTables: { names: ByteTable; tags: ByteTable; zipf: Zipf; days: Uint8Array[] } | undefined;

export function writeLogs(dir: string, f: number): Written {
  logsTables ??= { names: new ByteTable(personNames()), tags: new ByteTable(tagVocab()), zipf: new Zipf(5_000), days: dayPrefixes() };
  const { names, tags, zipf, days } = logsTables;
  const name = `logs-${String(f).padStart(2, "0")}.jsonl`;
  const out = new Output(join(dir, name));
  const user = new Stream(DS_LOGS, f, 0);
  const person = new Stream(DS_LOGS, f, 1);
  const cents = new Stream(DS_LOGS, f, 2);
  const ntags = new Stream(DS_LOGS, f, 3);
  const tagStreams = [4, 5, 6, 7].map((c) => new Stream(DS_LOGS, f, c));
  const seconds = new Stream(DS_LOGS, f, 8);
  const mUsers = new Modulus(10_000);
  const mCents = new Modulus(100_000);
  const mNtags = new Modulus(3);
  const mTag = new Modulus(1_000);
  const mSeconds = new Modulus(365 * 86400);
  const pUser = ascii('{"user": "u');
  const pName = ascii('", "name": "');
  const pAmount = ascii('", "amount": ');
  const pTags = ascii(', "tags": ["');
  const pTagSep = ascii('", "');
  const pTs = ascii('"], "ts": "');
  const pEnd = ascii('Z"}\n');
  for (let i = 0; i < LOGS_RECORDS; i++) {
    out.reserve();
    out.ascii(pUser);
    out.decimal(user.below(mUsers));
    out.ascii(pName);
    out.entry(names, zipf.rank(person));
    out.ascii(pAmount);
    const c = cents.below(mCents);
    out.decimal(Math.floor(c / 100));
    out.byte(46); // .
    out.twoDigits(c % 100);
    out.ascii(pTags);
    const n = 2 + ntags.below(mNtags);
    for (let j = 0; j < 4; j++) {
      // Value i of every tag stream belongs to record i, used or not.
      const s = tagStreams[j]!;
      if (j >= n) {
        s.skip();
        continue;
      }
      if (j > 0) out.ascii(pTagSep);
      out.entry(tags, s.below(mTag));
    }
    out.ascii(pTs);
    const s = seconds.below(mSeconds);
    const sod = s % 86400;
    out.ascii(days[Math.floor(s / 86400)]!);
    out.twoDigits(Math.floor(sod / 3600));
    out.byte(58); // :
    out.twoDigits(Math.floor(sod / 60) % 60);
    out.byte(58);
    out.twoDigits(sod % 60);
    out.ascii(pEnd);
  }
  return { name, ...out.close() };
}

// ---------------------------------------------------------------- text

let textTables: { vocab: ByteTable; zipf: Zipf } | undefined;

export function writeText(dir: string, f: number): Written {
  textTables ??= { vocab: new ByteTable(textVocab()), zipf: new Zipf(50_000) };
  const { vocab, zipf } = textTables;
  const name = `text-${String(f).padStart(2, "0")}.txt`;
  const out = new Output(join(dir, name));
  const lengths = new Stream(DS_TEXT, f, 0);
  const words = new Stream(DS_TEXT, f, 1);
  const m17 = new Modulus(17);
  for (let l = 0; l < TEXT_LINES; l++) {
    out.reserve();
    const n = 4 + lengths.below(m17);
    for (let j = 0; j < n; j++) {
      if (j > 0) out.byte(32);
      out.entry(vocab, zipf.rank(words));
    }
    out.byte(10);
  }
  return { name, ...out.close() };
}
