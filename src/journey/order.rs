//! A selection ordered along an aspect: brightest to darkest, calmest to busiest.
//!
//! An aspect ([`crate::insight::aspects`]) names the descriptors that measure
//! it; a track's position is the mean, over those descriptors, of its
//! z-score within the selection (so descriptors in Hz and in ratios weigh
//! alike). One descriptor can be named directly by its key. Tracks without
//! descriptors go last, in the order given.

use crate::analysis::descriptors::Descriptor;
use crate::insight::aspects::aspect_by_name;
use crate::storage::catalog::Track;

/// The descriptors behind `name`: an aspect's (`brightness`, `rhythm`…) or one descriptor's key.
pub fn descriptors_for(name: &str) -> Option<Vec<Descriptor>> {
    aspect_by_name(name).map(|a| a.descriptors.to_vec()).or_else(|| Descriptor::from_key(name).map(|d| vec![d]))
}

/// `selection` (track indices) from the lowest to the highest value along
/// `descriptors` (the reverse with `descending`); ties keep their order.
pub fn order_along(tracks: &[Track], selection: &[usize], descriptors: &[Descriptor], descending: bool) -> Vec<usize> {
    let measured: Vec<(usize, Vec<f32>)> = selection
        .iter()
        .filter_map(|&t| tracks.get(t)?.descriptors.map(|d| (t, descriptors.iter().map(|&k| d.get(k)).collect())))
        .collect();
    let moments: Vec<(f32, f32)> = (0..descriptors.len())
        .map(|k| {
            let n = measured.len().max(1) as f32;
            let mean = measured.iter().map(|(_, v)| v[k]).sum::<f32>() / n;
            let spread = (measured.iter().map(|(_, v)| (v[k] - mean).powi(2)).sum::<f32>() / n).sqrt();
            (mean, if spread > 0.0 { spread } else { 1.0 })
        })
        .collect();
    let mut keyed: Vec<(usize, f32)> = measured
        .iter()
        .map(|(t, values)| {
            let z: f32 = values.iter().zip(&moments).map(|(v, (mean, spread))| (v - mean) / spread).sum();
            (*t, if descending { -z } else { z })
        })
        .collect();
    keyed.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut order: Vec<usize> = keyed.into_iter().map(|(t, _)| t).collect();
    order.extend(selection.iter().copied().filter(|&t| tracks.get(t).is_some_and(|track| track.descriptors.is_none())));
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::descriptors::Descriptors;

    fn track(centroid_hz: Option<f32>, onset_rate: f32) -> Track {
        Track {
            id: 0,
            path: "/m/x.flac".into(),
            tags: Default::default(),
            duration_s: None,
            descriptors: centroid_hz.map(|c| {
                Descriptors::from_fn(|d| match d {
                    Descriptor::SpectralCentroid => c,
                    Descriptor::OnsetRate => onset_rate,
                    _ => 0.0,
                })
            }),
        }
    }

    #[test]
    fn orders_by_the_aspects_descriptors() {
        let tracks = vec![track(Some(3000.0), 1.0), track(None, 0.0), track(Some(500.0), 4.0), track(Some(1200.0), 2.0)];
        let brightness = descriptors_for("brightness").unwrap();
        assert_eq!(order_along(&tracks, &[0, 1, 2, 3], &brightness, true), vec![0, 3, 2, 1], "brightest to darkest, unmeasured last");
        assert_eq!(order_along(&tracks, &[0, 1, 2, 3], &brightness, false), vec![2, 3, 0, 1]);
        assert_eq!(order_along(&tracks, &[3, 0], &descriptors_for("onset_rate_per_s").unwrap(), false), vec![0, 3]);
        assert!(descriptors_for("loudness-war").is_none());
    }
}
