//! The reconciliation loop: source -> topology store -> debounce -> compute -> plan -> engine
