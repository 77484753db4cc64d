//! Synthetic phantoms and the training data pipeline (in progress).
