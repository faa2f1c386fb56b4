/**
 * The partition table of a disk, read as vudevpartx reads it (and as the kernel numbers the
 * partitions): an MBR's primary partitions are 1-4 and the logical ones in its extended
 * partition's chain of EBRs 5, 6...; a protective MBR (type 0xEE) means a GPT, whose entry N
 * (1-based, empty entries counted) is partition N, read-only when its attribute bit 60 is set.
 * Sectors are 512 bytes. The entries are decoded by the npm parsers `mbr` and `gpt`; what is
 * checked here is what a damaged table can get wrong (signatures, CRCs, ranges, loops).
 */
import MBR from 'mbr';
import GPT from 'gpt';

export const SECTOR = 512;
const PROTECTIVE = 0xee;
const GPT_READ_ONLY = 1n << 60n;
/** the kernel's limit on partitions of one disk (DISK_MAX_PARTS) */
const MAX_PARTITIONS = 256;

export interface Partition {
  /** offset and size in bytes */
  start: number;
  size: number;
  readOnly: boolean;
}

export interface Table {
  partitions: Map<number, Partition>;
  /** what was wrong with it, one line each (printed on the console) */
  problems: string[];
}

/** reads len bytes at byte offset pos of the disk (fewer at its end) */
export type ReadAt = (pos: number, len: number) => Buffer;

export function readTable(readAt: ReadAt, diskSize: number): Table {
  const table: Table = { partitions: new Map(), problems: [] };
  const mbr = readAt(0, SECTOR);
  if (mbr.length < SECTOR || mbr[510] !== 0x55 || mbr[511] !== 0xaa) {
    table.problems.push(`Bad MBR signature ${hex(mbr[510])} ${hex(mbr[511])}`);
    return table;
  }
  const primaries = MBR.parse(mbr).partitions;
  if (primaries[0]?.type === PROTECTIVE) readGpt(readAt, diskSize, table);
  else readMbr(readAt, primaries, table);
  checkRanges(table, diskSize);
  return table;
}

const hex = (byte: number | undefined) => (byte ?? 0).toString(16);

function readMbr(readAt: ReadAt, primaries: Array<{ type: number; firstLBA: number; sectors: number }>, table: Table): void {
  let extended: { firstLBA: number; sectors: number } | undefined;
  primaries.forEach((p, i) => {
    if (p.type === 0 || p.sectors === 0) return;
    if (MBR.Partition.isExtended(p.type)) {
      if (extended) table.problems.push(`partition ${i + 1}: more than one extended partition, ignored`);
      else extended = p;
    }
    // (the extended partition itself shows as a small device, as in Linux)
    const size = MBR.Partition.isExtended(p.type) ? Math.min(p.sectors, 2) : p.sectors;
    table.partitions.set(i + 1, { start: p.firstLBA * SECTOR, size: size * SECTOR, readOnly: false });
  });
  if (!extended) return;
  // the chain of EBRs: each has the logical partition (relative to itself) and the next EBR
  // (relative to the extended partition's start)
  const seen = new Set<number>();
  for (let ebr = extended.firstLBA, n = 5; ebr !== 0; n++) {
    if (seen.has(ebr) || n > MAX_PARTITIONS) {
      table.problems.push(`extended partition: the chain of logical partitions loops at sector ${ebr}`);
      return;
    }
    seen.add(ebr);
    const sector = readAt(ebr * SECTOR, SECTOR);
    if (sector.length < SECTOR || sector[510] !== 0x55 || sector[511] !== 0xaa) {
      table.problems.push(`logical partition ${n}: bad EBR signature at sector ${ebr}`);
      return;
    }
    const [logical, next] = MBR.parse(sector).partitions;
    if (logical.type !== 0 && logical.sectors > 0) table.partitions.set(n, { start: (ebr + logical.firstLBA) * SECTOR, size: logical.sectors * SECTOR, readOnly: false });
    ebr = next.type !== 0 && next.sectors > 0 ? extended.firstLBA + next.firstLBA : 0;
  }
}

function readGpt(readAt: ReadAt, diskSize: number, table: Table): void {
  const header = readAt(SECTOR, SECTOR);
  const gpt = new GPT({ blockSize: SECTOR });
  try {
    gpt.parseHeader(header);
  } catch {
    table.problems.push('Bad GPT signature');
    return;
  }
  if (gpt.headerSize < 92 || gpt.headerSize > SECTOR || gpt.checksumHeader(header.subarray(0, gpt.headerSize)) !== gpt.headerChecksum) {
    table.problems.push('Bad GPT header CRC');
    return;
  }
  const tableBytes = gpt.entries * gpt.entrySize;
  const tableStart = Number(gpt.tableOffset) * SECTOR;
  // (Linux takes only 128-byte entries)
  if (gpt.entrySize !== 128 || gpt.entries > 4096 || tableStart + tableBytes > diskSize) {
    table.problems.push(`Bad GPT partition array (${gpt.entries} entries of ${gpt.entrySize} bytes at sector ${gpt.tableOffset})`);
    return;
  }
  const entries = readAt(tableStart, tableBytes);
  if (gpt.checksumTable(entries, 0) !== gpt.tableChecksum) {
    table.problems.push('Bad GPT partition array CRC');
    return;
  }
  for (let i = 0; i < gpt.entries && i < MAX_PARTITIONS; i++) {
    const e = GPT.PartitionEntry.parse(entries, i * gpt.entrySize);
    if (e.isEmpty()) continue;
    if (e.lastLBA < e.firstLBA) {
      table.problems.push(`partition ${i + 1}: ends (sector ${e.lastLBA}) before it starts (sector ${e.firstLBA}), ignored`);
      continue;
    }
    const start = Number(e.firstLBA) * SECTOR;
    table.partitions.set(i + 1, { start, size: Number(e.lastLBA + 1n) * SECTOR - start, readOnly: (e.attr & GPT_READ_ONLY) !== 0n });
  }
}

/** Partitions past the disk's end are dropped, those that cross it truncated, overlaps reported: as Linux does. */
function checkRanges(table: Table, diskSize: number): void {
  const sorted = [...table.partitions].sort((a, b) => a[1].start - b[1].start);
  for (const [n, p] of sorted) {
    if (p.start >= diskSize) {
      table.problems.push(`partition ${n}: starts past the end of the disk, ignored`);
      table.partitions.delete(n);
    } else if (p.start + p.size > diskSize) {
      table.problems.push(`partition ${n}: extends past the end of the disk, truncated`);
      p.size = diskSize - p.start;
    }
  }
  const kept = sorted.filter(([n]) => table.partitions.has(n));
  kept.forEach(([m, q], i) => {
    for (const [n, p] of kept.slice(i + 1)) {
      // (an extended partition, shown as its first 2 sectors, contains its logical ones)
      if (p.start < q.start + q.size && q.size > 2 * SECTOR) table.problems.push(`partitions ${Math.min(m, n)} and ${Math.max(m, n)} overlap`);
    }
  });
}
