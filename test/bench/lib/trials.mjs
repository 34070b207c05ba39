// Comparisons on a noisy machine: both sides measured in the same run, in turns.

/**
 * Run each side `trials` times, alternating which goes first (so drift, page
 * cache state and background noise hit both). Returns { overlay: [...], baseline: [...] }.
 * With `show` (result -> short text), each trial is logged to stderr under `label`.
 */
export async function interleave(trials, runOverlay, runBaseline, { label, show } = {}) {
  const results = { overlay: [], baseline: [] };
  for (let i = 0; i < trials; i++) {
    if (i % 2 === 0) {
      results.baseline.push(await runBaseline(i));
      results.overlay.push(await runOverlay(i));
    } else {
      results.overlay.push(await runOverlay(i));
      results.baseline.push(await runBaseline(i));
    }
    if (show) console.error(`  ${label} #${i + 1}: s3-overlay ${show(results.overlay[i])}, baseline ${show(results.baseline[i])}`);
  }
  return results;
}
