//! Splitting a range of rows over the machine's cores, on named scoped threads.

use std::ops::Range;

/// Runs `work` on consecutive pieces of `0..n`, one per core (at most 8),
/// none shorter than `min_len` unless `n` is, and returns the results in
/// range order. The first piece runs on the calling thread, and so does any
/// piece whose thread cannot start, so no result goes missing; a panic in
/// `work` is raised again here. The same `n` on the same machine always gives
/// the same pieces, so results that depend on summation order repeat.
pub fn map_ranges<R: Send>(name: &str, n: usize, min_len: usize, work: impl Fn(Range<usize>) -> R + Sync) -> Vec<R> {
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get()).min(8);
    let pieces = cores.min(n / min_len.max(1)).max(1);
    // Balanced: lengths differ by at most one, so each is at least n / pieces ≥ min_len.
    let ranges: Vec<Range<usize>> = (0..pieces).map(|p| p * n / pieces..(p + 1) * n / pieces).filter(|r| !r.is_empty()).collect();
    let Some((first, rest)) = ranges.split_first() else {
        return vec![work(0..0)];
    };
    let work = &work;
    std::thread::scope(|scope| {
        let spawned: Vec<_> = rest
            .iter()
            .map(|range| {
                let range = range.clone();
                std::thread::Builder::new()
                    .name(format!("strata-{name}"))
                    .spawn_scoped(scope, {
                        let range = range.clone();
                        move || work(range)
                    })
                    .map_err(|_| range)
            })
            .collect();
        let mut results = vec![work(first.clone())];
        for piece in spawned {
            results.push(match piece {
                Ok(handle) => handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                Err(range) => work(range),
            });
        }
        results
    })
}

/// Joins pieces that each produce two lists (as from [`map_ranges`]) into two lists, in piece order.
pub fn concat_pairs<A, B>(pieces: Vec<(Vec<A>, Vec<B>)>) -> (Vec<A>, Vec<B>) {
    let (mut left, mut right) = (Vec::new(), Vec::new());
    for (a, b) in pieces {
        left.extend(a);
        right.extend(b);
    }
    (left, right)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_range_in_order() {
        for n in [0, 1, 7, 25, 31, 1000, 100_003] {
            let pieces = map_ranges("test", n, 3, |r| r);
            let joined: Vec<usize> = pieces.iter().flat_map(Clone::clone).collect();
            assert_eq!(joined, (0..n).collect::<Vec<_>>(), "n = {n}");
            assert!(pieces.iter().all(|r| r.len() >= 3.min(n)), "n = {n}: {pieces:?}");
        }
    }
}
