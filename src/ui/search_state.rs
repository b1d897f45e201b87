//! What the window searches for: the selected track, the aspects and their
//! weights, the layer sweep's override, the similarities kept for reranking,
//! the ranked results (tracks, or works with the Works switch), the matching
//! passage, and a listing that replaces the results for a while (a path, a
//! selection in order).
//!
//! Owns no library data: each method that needs the library is handed the
//! view the window shows. Queries and paths go to the search worker
//! ([`Workers::query`], [`Workers::path`]); their answers come back through
//! [`SearchState::results_ready`], [`SearchState::scores_ready`],
//! [`SearchState::work_results_ready`] and [`SearchState::path_ready`].

use std::collections::HashMap;
use std::sync::Arc;

use super::tasks::{LibraryView, PathRequest, QueryRequest, Workers};
use crate::insight::aspects::ResolvedAspect;
use crate::search::{Exclusion, Facet, PassageMatch, QueryScores, SearchResult, is_excluded};
use crate::works::similarity::{Unit, WorkResult};

/// Tracks a path puts between its two ends (works, by works).
pub const PATH_STEPS: usize = 8;

/// A list shown instead of the results: a path, or a selection in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    /// What it is, in words ("Path: A → B").
    pub title: String,
    /// Tracks in order.
    pub tracks: Vec<usize>,
    /// For a path, each entry's similarity to the one before it (one fewer than tracks); else empty.
    pub step_similarities: Vec<f32>,
}

/// How many results the results list shows.
pub const RESULTS_LISTED: usize = 50;

/// The search behind the results panel.
pub struct SearchState {
    selected: Option<usize>,
    /// Aspects resolved on this library (empty until the probe is ready).
    aspects: Vec<ResolvedAspect>,
    /// Weight by aspect id; an aspect not named weighs 1.
    aspect_weights: HashMap<String, f32>,
    /// What to leave out of the results.
    pub exclusion: Exclusion,
    /// The layer sweep ranks by one layer instead of the aspect mix.
    layer_override: Option<usize>,
    /// Per-facet similarities of the last query, for reranking without reading vectors.
    query_scores: Option<Arc<QueryScores>>,
    results: Vec<SearchResult>,
    /// Names of the facets `results` break their scores down by.
    results_facets: Vec<String>,
    /// The passage found for (query, result).
    passage: Option<(usize, usize, PassageMatch)>,
    /// Rank tracks or whole works.
    unit: Unit,
    /// Works ranked for the selected track's work, in [`Unit::Work`].
    work_results: Vec<WorkResult>,
    /// What `work_results` were ranked for: the query track and the weights.
    work_results_for: Option<(usize, Vec<f32>)>,
    /// A path or ordered selection shown instead of the results.
    listing: Option<Listing>,
    /// The path asked for and not answered yet: (from, to).
    path_pending: Option<(usize, usize)>,
}

impl SearchState {
    /// A search with nothing selected, with the remembered weights and exclusion.
    pub fn new(aspect_weights: HashMap<String, f32>, exclusion: Exclusion) -> Self {
        Self {
            selected: None,
            aspects: Vec::new(),
            aspect_weights,
            exclusion,
            layer_override: None,
            query_scores: None,
            results: Vec::new(),
            results_facets: Vec::new(),
            passage: None,
            unit: Unit::Track,
            work_results: Vec::new(),
            work_results_for: None,
            listing: None,
            path_pending: None,
        }
    }

    /// Whether results are tracks or works.
    pub fn unit(&self) -> Unit {
        self.unit
    }

    /// Ranks tracks or works from now on; true when it changed (the caller asks again).
    pub fn set_unit(&mut self, unit: Unit) -> bool {
        std::mem::replace(&mut self.unit, unit) != unit
    }

    /// Works ranked for the selected track's work, when they belong to the current weights.
    pub fn work_results(&self) -> Option<&[WorkResult]> {
        let current =
            self.work_results_for.as_ref().is_some_and(|(track, weights)| Some(*track) == self.selected && *weights == self.weights());
        current.then_some(self.work_results.as_slice())
    }

    /// The path or ordered selection shown instead of the results.
    pub fn listing(&self) -> Option<&Listing> {
        self.listing.as_ref()
    }

    /// Shows a listing instead of the results (`None`: the results again).
    pub fn set_listing(&mut self, listing: Option<Listing>) {
        self.listing = listing;
    }

    /// Whether a path is being computed.
    pub fn path_pending(&self) -> bool {
        self.path_pending.is_some()
    }

    /// The selected track.
    pub fn selected(&self) -> Option<usize> {
        self.selected
    }

    /// The ranked results for the selected track.
    pub fn results(&self) -> &[SearchResult] {
        &self.results
    }

    /// Names of the facets the results' scores are broken down by.
    pub fn results_facets(&self) -> &[String] {
        &self.results_facets
    }

    /// Aspects resolved on this library (empty until the probe is ready).
    pub fn aspects(&self) -> &[ResolvedAspect] {
        &self.aspects
    }

    /// Weights by aspect id, to remember between runs.
    pub fn aspect_weights(&self) -> &HashMap<String, f32> {
        &self.aspect_weights
    }

    /// The layer the sweep ranks by, if it is active.
    pub fn layer_override(&self) -> Option<usize> {
        self.layer_override
    }

    /// The passage found for the selected track, as (query, result, passage).
    pub fn passage(&self) -> Option<(usize, usize, PassageMatch)> {
        self.passage.filter(|(query, _, _)| Some(*query) == self.selected)
    }

    /// Current weight of an aspect.
    pub fn aspect_weight(&self, aspect: &str) -> f32 {
        self.aspect_weights.get(aspect).copied().unwrap_or(1.0)
    }

    /// Sets an aspect's weight (clamped to 0–1); the caller reranks.
    pub fn set_aspect_weight(&mut self, aspect: &str, weight: f32) {
        self.aspect_weights.insert(aspect.to_string(), weight.clamp(0.0, 1.0));
    }

    /// Selects a track; false when it was selected already.
    pub fn select(&mut self, track: usize) -> bool {
        if self.selected == Some(track) {
            return false;
        }
        self.selected = Some(track);
        self.passage = None;
        true
    }

    /// Forgets the selection (another model's library has other tracks).
    pub fn clear_selection(&mut self) {
        self.selected = None;
    }

    /// A new library view of `tracks` tracks: results and similarities belong to the old one.
    pub fn library_changed(&mut self, tracks: usize) {
        if self.selected.is_some_and(|s| s >= tracks) {
            self.selected = None;
        }
        self.query_scores = None;
        self.results.clear();
        self.work_results_for = None;
        // Track indices of a path may mean other tracks in the new view.
        self.listing = None;
        self.path_pending = None;
    }

    /// The probe resolved the library's aspects.
    pub fn set_aspects(&mut self, aspects: Vec<ResolvedAspect>) {
        self.aspects = aspects;
    }

    /// Ranks by one layer (the sweep) or, with `None`, by the aspect mix again; true when it changed.
    pub fn set_layer_override(&mut self, layer: Option<usize>) -> bool {
        std::mem::replace(&mut self.layer_override, layer) != layer
    }

    /// A passage was found for (query, result).
    pub fn set_passage(&mut self, query: usize, result: usize, passage: PassageMatch) {
        self.passage = Some((query, result, passage));
    }

    /// Whether the selected track's similarities are still on their way.
    pub fn pending(&self, library: Option<&LibraryView>) -> bool {
        let works_pending = self.unit == Unit::Work && self.work_results().is_none();
        self.path_pending.is_some() || (self.selected.is_some() && (self.current_scores(library).is_none() || works_pending))
    }

    /// The kept similarities, if they belong to the selected track and the current facets.
    pub fn current_scores(&self, library: Option<&LibraryView>) -> Option<&Arc<QueryScores>> {
        self.query_scores.as_ref().filter(|q| Some(q.query) == self.selected && q.facets == self.facets(library))
    }

    /// What a query compares: the sweep's layer, the aspects' layers or, before the probe, the passage layer.
    pub fn facets(&self, library: Option<&LibraryView>) -> Vec<Facet> {
        if let (Some(layer), Some(library)) = (self.layer_override, library)
            && let Some(name) = library.snapshot.layer_names().get(layer)
        {
            return vec![Facet { name: name.clone(), layer }];
        }
        if self.aspects.is_empty() {
            return library.map_or_else(Vec::new, |l| {
                let manifest = &l.snapshot.model.manifest;
                let layer = manifest.passage_layer_index();
                vec![Facet { name: manifest.layers[layer].name.clone(), layer }]
            });
        }
        self.aspects.iter().map(|a| Facet { name: a.name.clone(), layer: a.layer }).collect()
    }

    /// Each facet's weight, in [`Self::facets`] order.
    pub fn weights(&self) -> Vec<f32> {
        if self.aspects.is_empty() || self.layer_override.is_some() {
            return vec![1.0];
        }
        self.aspects.iter().map(|a| self.aspect_weight(&a.name)).collect()
    }

    /// Reranks from the kept per-facet similarities: no vector is read.
    pub fn rerank(&mut self, library: Option<&LibraryView>) {
        // Scores of another track or facets would rank with the wrong weights:
        // the current ones are on their way.
        let (Some(scores), Some(library)) = (self.current_scores(library).cloned(), library) else { return };
        let (exclusion, query) = (self.exclusion, scores.query);
        self.results = scores.rank(&self.weights(), RESULTS_LISTED, &|t| is_excluded(&library.snapshot, query, t, exclusion));
        self.results_facets = scores.facets.iter().map(|f| f.name.clone()).collect();
    }

    /// Asks the search worker for the selected track's results and similarities.
    pub fn request(&self, workers: &Workers, library: Option<&LibraryView>, generation: u64) {
        if let Some(track) = self.selected {
            let (facets, weights) = (self.facets(library), self.weights());
            let (exclusion, unit) = (self.exclusion, self.unit);
            workers.query(QueryRequest { generation, track, facets, weights, exclusion, k: RESULTS_LISTED, unit });
        }
    }

    /// Asks the search worker for a path from the selected track to `to`, by
    /// the current unit and aspect mix; false when nothing is selected.
    pub fn request_path(&mut self, workers: &Workers, library: Option<&LibraryView>, generation: u64, to: usize) -> bool {
        let Some(from) = self.selected.filter(|&from| from != to) else { return false };
        let (facets, weights) = (self.facets(library), self.weights());
        workers.path(PathRequest { generation, from, to, steps: PATH_STEPS, facets, weights, unit: self.unit });
        self.path_pending = Some((from, to));
        true
    }

    /// The worker's path (ignored unless it is the one asked for last).
    pub fn path_ready(&mut self, from: usize, to: usize, listing: Listing) {
        if self.path_pending == Some((from, to)) {
            self.path_pending = None;
            self.listing = Some(listing);
        }
    }

    /// The worker's works for `track`'s work at `weights` (ignored when no longer asked for).
    pub fn work_results_ready(&mut self, track: usize, weights: Vec<f32>, results: Vec<WorkResult>) {
        if Some(track) == self.selected && weights == self.weights() {
            self.work_results = results;
            self.work_results_for = Some((track, weights));
        }
    }

    /// The worker's ranked results for `track` over `facets` (ignored when no longer asked for).
    pub fn results_ready(&mut self, library: Option<&LibraryView>, track: usize, facets: Vec<Facet>, results: Vec<SearchResult>) {
        if Some(track) != self.selected || facets != self.facets(library) {
            return;
        }
        // The similarities kept so far belong to another query or
        // facets: reranking from them would bring back its results.
        if self.query_scores.as_ref().is_some_and(|q| q.query != track || q.facets != facets) {
            self.query_scores = None;
        }
        self.results_facets = facets.iter().map(|f| f.name.clone()).collect();
        self.results = results;
    }

    /// The worker's per-facet similarities (ignored when no longer asked for).
    pub fn scores_ready(&mut self, library: Option<&LibraryView>, scores: Arc<QueryScores>) {
        // Similarities for facets since changed would rerank with the wrong weights.
        if Some(scores.query) == self.selected && scores.facets == self.facets(library) {
            self.query_scores = Some(scores);
            self.rerank(library);
        }
    }
}
