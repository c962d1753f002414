"""Results folders, the metrics, Table 1 and Figure 4."""
