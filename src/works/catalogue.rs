//! Catalogue numbers (BWV, K., Op. …): finding them in titles and writing them one way.
