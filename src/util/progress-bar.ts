// A progress bar for long loops (training epochs, folder decodes): a live one-line bar on a TTY, plain periodic log lines otherwise.
export class ProgressBar {
  private readonly tty = Boolean(process.stderr.isTTY);
  private lastLog = 0;
  private readonly start = performance.now();

  constructor(
    private readonly title: string,
    private readonly total: number,
    private readonly log: (l: string) => void,
    private readonly everyMs = 30_000,
  ) {}

  update(done: number, detail: string, imagesPerSec: number): void {
    const elapsed = (performance.now() - this.start) / 1000;
    const eta = done > 0 ? (elapsed / done) * (this.total - done) : 0;
    const tail = `${detail} | ${imagesPerSec.toFixed(0)} img/s | ETA ${fmt(eta)}`;
    if (this.tty) {
      const width = 24;
      const fill = Math.round((width * done) / this.total);
      process.stderr.write(
        `\r${this.title} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${done}/${this.total} ${tail}\x1b[K`,
      );
    } else if (performance.now() - this.lastLog >= this.everyMs || done === this.total) {
      this.lastLog = performance.now();
      this.log(`${this.title} ${done}/${this.total} ${tail}`);
    }
  }

  done(): void {
    if (this.tty) process.stderr.write('\n');
  }
}

function fmt(s: number): string {
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.round(s)}s`;
}
