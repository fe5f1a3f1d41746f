//! `floe-ring` decides where every series lives (work in progress).
