// The npm partition-table parsers (plain JavaScript, no typings of their own): what vudev uses.
declare module 'mbr' {
  interface MbrPartition {
    status: number;
    type: number;
    firstLBA: number;
    sectors: number;
  }
  interface Mbr {
    partitions: MbrPartition[];
  }
  const MBR: {
    parse(buffer: Buffer): Mbr;
    Partition: { isExtended(type: number): boolean };
  };
  export default MBR;
}

declare module 'gpt' {
  interface GptEntry {
    type: string;
    firstLBA: bigint;
    lastLBA: bigint;
    attr: bigint;
    isEmpty(): boolean;
  }
  class GPT {
    constructor(options?: { blockSize?: number });
    static PartitionEntry: { parse(buffer: Buffer, offset?: number): GptEntry };
    currentLBA: bigint;
    tableOffset: bigint;
    entries: number;
    entrySize: number;
    headerSize: number;
    headerChecksum: number;
    tableChecksum: number;
    parseHeader(buffer: Buffer, offset?: number): GPT;
    checksumHeader(buffer: Buffer, offset?: number): number;
    checksumTable(buffer: Buffer, offset?: number): number;
  }
  export default GPT;
}
