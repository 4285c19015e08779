//! Remote embedders (later).
