"""Hello q8s: the sample H2O Wave app of the q8s documentation."""
