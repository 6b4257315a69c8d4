// Dependency-free SVG charts (viewable on GitHub): loss and accuracy per epoch, and accuracy curves side by side.
export interface Series {
  name: string;
  color: string;
  points: [number, number][];
  /** Which y axis: left (loss) or right (accuracy, 0..1). */
  axis: 'left' | 'right';
}

export function lineChartSvg(
  title: string,
  series: Series[],
  xLabel: string,
  leftLabel: string,
  rightLabel: string,
): string {
  const W = 720;
  const H = 400;
  const m = { l: 60, r: 60, t: 40, b: 50 };
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const xmin = Math.min(...xs, 0);
  const xmax = Math.max(...xs, 1);
  const left = series.filter((s) => s.axis === 'left').flatMap((s) => s.points.map((p) => p[1]));
  const lmax = Math.max(...left, 1e-9) * 1.05;
  const X = (x: number) => m.l + ((x - xmin) / (xmax - xmin || 1)) * (W - m.l - m.r);
  const YL = (y: number) => H - m.b - (y / lmax) * (H - m.t - m.b);
  const YR = (y: number) => H - m.b - y * (H - m.t - m.b);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const f = i / 5;
    const y = H - m.b - f * (H - m.t - m.b);
    out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.l - 6}" y="${y + 4}" text-anchor="end">${(f * lmax).toFixed(2)}</text>`);
    out.push(`<text x="${W - m.r + 6}" y="${y + 4}">${(f * 100).toFixed(0)}%</text>`);
  }
  const ticks = Math.min(10, Math.max(1, Math.round(xmax - xmin)));
  for (let i = 0; i <= ticks; i++) {
    const x = xmin + ((xmax - xmin) * i) / ticks;
    out.push(`<text x="${X(x)}" y="${H - m.b + 18}" text-anchor="middle">${Math.round(x)}</text>`);
  }
  out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#333"/>`);
  out.push(`<text x="${W / 2}" y="${H - 12}" text-anchor="middle">${esc(xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${H / 2}) rotate(-90)" text-anchor="middle">${esc(leftLabel)}</text>`);
  out.push(`<text transform="translate(${W - 14} ${H / 2}) rotate(90)" text-anchor="middle">${esc(rightLabel)}</text>`);
  series.forEach((s, i) => {
    const Y = s.axis === 'left' ? YL : YR;
    const d = s.points.map((p, j) => `${j ? 'L' : 'M'}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    out.push(`<rect x="${m.l + 10 + i * 150}" y="${m.t - 4}" width="12" height="3" fill="${s.color}"/>`);
    out.push(`<text x="${m.l + 26 + i * 150}" y="${m.t}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

/** A curve of accuracies (0..1) per epoch; `dashed` draws it dashed, `dots` as points without a line. */
export interface AccuracyLine {
  name: string;
  color: string;
  points: [number, number][];
  dashed?: boolean;
  dots?: boolean;
}

/**
 * Accuracy per epoch for several curves, the y axis spanning their values (rounded out to 5 points), the legend in
 * rows of three under the title.
 */
export function accuracyChartSvg(
  title: string,
  lines: readonly AccuracyLine[],
  xLabel: string,
  o: { yMin?: number } = {},
): string {
  const W = 760;
  const rowsOfLegend = Math.ceil(lines.length / 3);
  const m = { l: 60, r: 24, t: 44 + 18 * rowsOfLegend, b: 50 };
  const H = 380 + 18 * rowsOfLegend;
  const all = lines.flatMap((l) => l.points);
  const xmax = Math.max(1, ...all.map((p) => p[0]));
  // The axis starts at `yMin` when given (what lies below is clipped), else at the lowest value rounded down.
  const ylo = o.yMin ?? Math.max(0, Math.floor(Math.min(1, ...all.map((p) => p[1])) * 20) / 20);
  const yhi = Math.min(1, Math.ceil(Math.max(ylo + 0.05, ...all.map((p) => p[1])) * 20) / 20);
  const X = (x: number) => m.l + (x / xmax) * (W - m.l - m.r);
  const Y = (y: number) => H - m.b - ((y - ylo) / (yhi - ylo)) * (H - m.t - m.b);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`,
  ];
  out.push(
    `<clipPath id="plot"><rect x="${m.l}" y="${m.t - 6}" width="${W - m.l - m.r}" height="${H - m.t - m.b + 12}"/></clipPath>`,
  );
  const steps = Math.floor((yhi - ylo) / 0.05 + 1e-9);
  const every = Math.ceil(steps / 10);
  for (let i = 0; i <= steps; i += every) {
    const v = yhi - i * 0.05;
    out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${Y(v).toFixed(1)}" y2="${Y(v).toFixed(1)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.l - 6}" y="${(Y(v) + 4).toFixed(1)}" text-anchor="end">${(100 * v).toFixed(0)}%</text>`);
  }
  const xstep = [1, 2, 5, 10, 20, 25, 50, 100, 200, 500].find((s) => xmax / s <= 12) ?? 1000;
  for (let x = 0; x <= xmax; x += xstep)
    out.push(`<text x="${X(x).toFixed(1)}" y="${H - m.b + 18}" text-anchor="middle">${x}</text>`);
  out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#333"/>`);
  out.push(`<text x="${W / 2}" y="${H - 12}" text-anchor="middle">${esc(xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${H / 2}) rotate(-90)" text-anchor="middle">accuracy</text>`);
  lines.forEach((l, i) => {
    const lx = m.l + 10 + (i % 3) * 230;
    const ly = 44 + 18 * Math.floor(i / 3);
    if (l.dots) {
      for (const [x, y] of l.points)
        out.push(
          `<circle cx="${X(x).toFixed(1)}" cy="${Y(y).toFixed(1)}" r="4" fill="${l.color}" clip-path="url(#plot)"/>`,
        );
      out.push(`<circle cx="${lx + 6}" cy="${ly - 4}" r="4" fill="${l.color}"/>`);
    } else {
      const d = l.points.map((p, j) => `${j ? 'L' : 'M'}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(' ');
      const dash = l.dashed ? ' stroke-dasharray="5 4" stroke-opacity="0.7"' : '';
      out.push(`<path d="${d}" fill="none" stroke="${l.color}" stroke-width="2"${dash} clip-path="url(#plot)"/>`);
      out.push(
        `<line x1="${lx}" x2="${lx + 14}" y1="${ly - 4}" y2="${ly - 4}" stroke="${l.color}" stroke-width="2"${dash}/>`,
      );
    }
    out.push(`<text x="${lx + 18}" y="${ly}">${esc(l.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
