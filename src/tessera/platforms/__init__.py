"""Platform adapters: the embedded local platform (default) and, later, Knative, OpenFaaS, ..."""
