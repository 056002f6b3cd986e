"""The paper's tables and figures from traces, predictions and neurons."""
