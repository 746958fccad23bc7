"""The Google edge: Cloud Function entry points, Pub/Sub envelope decoding, push
authentication, Cloud Logging, and the deploy recipe. The only package (with the Firestore
store and the Pub/Sub publisher) that imports ``google.*`` or ``functions_framework``;
nothing here is imported by ``import phaseactors``."""
