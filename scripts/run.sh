#!/usr/bin/env bash
# The main job: the whole local stack with the embedded defaults.
#   Azurite (started by devhost when nothing listens on 10000-10002, data in .local/azurite)
#   devmodel on 127.0.0.1:8199 (scripted engine with the seed scenarios; DEVMODEL_ENGINE=llama for the real model),
#     posting signed webhooks to the app when a background response ends (DEVMODEL_WEBHOOKS=0: timers only)
#   devhost serving this app on http://127.0.0.1:7071
# Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
. .venv/bin/activate

model_port=${DEVMODEL_PORT:-8199}
host_port=${DEVHOST_PORT:-7071}
engine=${DEVMODEL_ENGINE:-scripted}
webhooks=${DEVMODEL_WEBHOOKS:-1}
mkdir -p .local

# The app chains turns with previous_response_id; keep responses a day so an idle conversation can go on
# (devmodel's default mirrors the service's ~10 minute background window).
model_args=(serve --host 127.0.0.1 --port "$model_port" --engine "$engine" --retention-seconds 86400)
[ "$engine" = scripted ] && model_args+=(--scenario devmodel/scenarios/seeds.json)
if [ "$webhooks" = 1 ]; then
  # The signing secret both sides share (Standard Webhooks, as an OpenAI webhook endpoint has one), kept in .local.
  [ -s .local/webhook-secret ] || python -c 'import base64, os; print("whsec_" + base64.b64encode(os.urandom(24)).decode())' > .local/webhook-secret
  export ASSISTANT_WEBHOOK_SECRET=${ASSISTANT_WEBHOOK_SECRET:-$(cat .local/webhook-secret)}
  model_args+=(--webhook-url "http://127.0.0.1:$host_port/api/webhooks/openai" --webhook-secret "$ASSISTANT_WEBHOOK_SECRET")
fi
python -m devmodel "${model_args[@]}" > .local/devmodel.log 2>&1 &
model_pid=$!
cleanup() { kill "$model_pid" 2>/dev/null || true; wait "$model_pid" 2>/dev/null || true; }
trap cleanup EXIT INT TERM

for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$model_port/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$model_pid" 2>/dev/null; then echo "devmodel failed to start; see .local/devmodel.log" >&2; cat .local/devmodel.log >&2; exit 1; fi
  sleep 0.2
done
echo "devmodel ($engine engine) on http://127.0.0.1:$model_port/v1 (log: .local/devmodel.log)"
[ "$webhooks" = 1 ] && echo "provider webhooks: devmodel -> http://127.0.0.1:$host_port/api/webhooks/openai (signed)"

export ASSISTANT_BASE_URL=${ASSISTANT_BASE_URL:-http://127.0.0.1:$model_port/v1}
export TASKHUB_NAME=${TASKHUB_NAME:-DurableAssistant}   # host.json names the hub %TASKHUB_NAME%
api="http://127.0.0.1:$host_port/api"
cat <<EOT

Monitor (conversations, turn timelines):  $api/monitor
Chat in another terminal:                 .venv/bin/assistant --url http://127.0.0.1:$host_port chat
                                          (it asks you to approve each side-effect tool call; Ctrl-C offers to
                                          cancel a turn; .venv/bin/assistant history <conversationId> prints a
                                          transcript)

Or with curl (in another terminal):
  conv=\$(curl -s -X POST $api/conversations | python3 -c 'import json,sys; print(json.load(sys.stdin)["conversationId"])')
  status=\$(curl -s -X POST $api/conversations/\$conv/messages -H 'Content-Type: application/json' \\
      -d '{"content": "Turn living room lamp and kitchen lamp on. Set both lamps to half brightness."}' \\
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["statusQueryGetUri"])')
  curl -s "\$status"            # the turn's status route; repeat: customStatus shows the phase, output the answer
  curl -s $api/conversations/\$conv/approvals    # the four lamp calls (1.1-1.4) wait for a person
  for id in 1.1 1.2 1.3; do curl -s -X POST $api/conversations/\$conv/approvals/\$id -d '{"decision": "approve"}'; done
  curl -s -X POST $api/conversations/\$conv/approvals/1.4 -d '{"decision": "deny", "reason": "not now"}'
  curl -s $api/conversations/\$conv   # the transcript, from Blob Storage

EOT
python -m devhost start --app . --host 127.0.0.1 --port "$host_port" "$@"
