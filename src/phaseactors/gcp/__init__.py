"""Google Cloud: deployment of the Cloud Functions that run phaseactors gates."""
