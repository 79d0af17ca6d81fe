"""The song and its files: loading, the analysis signal, estimates on disk, stems and exports."""
