//! `floe-datagen` generates TSBS-shaped data (work in progress).
