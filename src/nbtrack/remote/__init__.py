"""Remote: pushing runs to an MLflow tracking server and pulling them back."""
