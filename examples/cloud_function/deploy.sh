#!/usr/bin/env bash
# Deploy one phaseactors gate as a 2nd-gen Cloud Function on its input topic.
#
#   ./deploy.sh PROJECT GATE [REGION]            run the commands
#   ./deploy.sh --dry-run PROJECT GATE [REGION]  only print them
#
# It creates the input, output and dead-letter topics, deploys the function with an Eventarc
# Pub/Sub trigger WITH RETRY ENABLED (without it, "raise so Pub/Sub retries" retries nothing),
# attaches the dead-letter topic to the trigger's subscription, deploys the Firestore rules
# and indexes, and deploys the sweep function with a Cloud Scheduler job every 5 minutes.
set -euo pipefail

dry_run=0
if [ "${1:-}" = "--dry-run" ]; then dry_run=1; shift; fi
if [ $# -lt 2 ]; then
  echo "usage: $0 [--dry-run] PROJECT GATE [REGION]" >&2
  exit 2
fi
project=$1
gate=$2
region=${3:-us-west2}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
gate_file="$root/machines/$gate.toml"
[ -f "$gate_file" ] || { echo "no gate definition $gate_file" >&2; exit 2; }

topic_of() {  # topic_of input|output: read [topics] from the gate file
  python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["topics"][sys.argv[2]])' \
    "$gate_file" "$1"
}
input_topic=$(topic_of input)
output_topic=$(topic_of output)
dead_letter_topic="$input_topic-dead-letter"
function_name="phaseactors-${gate//_/-}"
trigger_sa="phaseactors-trigger@$project.iam.gserviceaccount.com"
max_delivery_attempts=10
env_vars="PHASEACTORS_GATE=$gate,PHASEACTORS_MACHINES=machines,PHASEACTORS_STORE=firestore://$project"
env_vars="$env_vars,PHASEACTORS_PUBLISHER=pubsub://$project,PHASEACTORS_DEAD_LETTER_TOPIC=$dead_letter_topic"

run() {
  printf '+ %s\n' "$*"
  [ "$dry_run" = 1 ] || "$@"
}

run gcloud pubsub topics create "$input_topic" --project="$project"
run gcloud pubsub topics create "$output_topic" --project="$project"
run gcloud pubsub topics create "$dead_letter_topic" --project="$project"

# The source: this directory, the gate definitions, and phaseactors itself as a wheel.
if [ "$dry_run" = 0 ]; then
  mkdir -p "$here/vendor" "$here/machines"
  python3 -m pip wheel --no-deps -w "$here/vendor" "$root" >/dev/null
  cp "$root"/machines/*.toml "$here/machines/"
fi

run gcloud iam service-accounts create phaseactors-trigger --project="$project" \
  --display-name="phaseactors Eventarc and Scheduler invoker"

run gcloud functions deploy "$function_name" \
  --project="$project" --region="$region" --gen2 --runtime=python311 \
  --source="$here" --entry-point=handle \
  --trigger-topic="$input_topic" --retry \
  --trigger-service-account="$trigger_sa" \
  --set-env-vars="$env_vars"
run gcloud functions add-invoker-policy-binding "$function_name" \
  --project="$project" --region="$region" --member="serviceAccount:$trigger_sa"

# Eventarc delivers through a push subscription it creates: give it the dead-letter topic,
# and let the Pub/Sub service agent publish dead letters and forward from the subscription.
if [ "$dry_run" = 1 ]; then
  subscription='$(trigger subscription)'
  pubsub_agent='service-$(project number)@gcp-sa-pubsub.iam.gserviceaccount.com'
else
  subscription=$(gcloud eventarc triggers list --project="$project" --location="$region" \
    --filter="destination.cloudRun.service~$function_name" \
    --format='value(transport.pubsub.subscription)' | head -n 1)
  number=$(gcloud projects describe "$project" --format='value(projectNumber)')
  pubsub_agent="service-$number@gcp-sa-pubsub.iam.gserviceaccount.com"
fi
run gcloud pubsub subscriptions update "$subscription" --project="$project" \
  --dead-letter-topic="$dead_letter_topic" --max-delivery-attempts="$max_delivery_attempts"
run gcloud pubsub topics add-iam-policy-binding "$dead_letter_topic" --project="$project" \
  --member="serviceAccount:$pubsub_agent" --role=roles/pubsub.publisher
run gcloud pubsub subscriptions add-iam-policy-binding "$subscription" --project="$project" \
  --member="serviceAccount:$pubsub_agent" --role=roles/pubsub.subscriber

run firebase deploy --only firestore:rules,firestore:indexes --project="$project" \
  --config="$here/firebase.json"
run gcloud firestore fields ttls update expire_at --collection-group=inbox --enable-ttl \
  --project="$project" --async

# Deadlines and stuck outboxes are re-driven by a sweep every few minutes.
run gcloud functions deploy "$function_name-sweep" \
  --project="$project" --region="$region" --gen2 --runtime=python311 \
  --source="$here" --entry-point=sweep --trigger-http --no-allow-unauthenticated \
  --set-env-vars="$env_vars"
run gcloud functions add-invoker-policy-binding "$function_name-sweep" \
  --project="$project" --region="$region" --member="serviceAccount:$trigger_sa"
if [ "$dry_run" = 1 ]; then
  sweep_url='$(sweep function URL)'
else
  sweep_url=$(gcloud functions describe "$function_name-sweep" --project="$project" \
    --region="$region" --gen2 --format='value(serviceConfig.uri)')
fi
run gcloud scheduler jobs create http "$function_name-sweep" \
  --project="$project" --location="$region" --schedule="*/5 * * * *" \
  --uri="$sweep_url" --http-method=POST --oidc-service-account-email="$trigger_sa"
