"""What each use case returns, one module per use case (a view imports only its own)."""
