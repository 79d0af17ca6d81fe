"""Signal processing without learned weights: STFT and resampling, NMF, display images."""
