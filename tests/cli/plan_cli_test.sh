#!/usr/bin/env bash
# crmctl plan, capacity and tiers: exit codes, messages, golden outputs.
source "$(dirname "$0")/lib.sh"

run --version;                                   expect_code 0; expect_out "crmctl "
run --help;                                      expect_code 0; expect_out "plan"
run;                                             expect_code 2
run frobnicate;                                  expect_code 2

# Golden outputs of the README's sample workloads.
run plan --customers 5;                          expect_code 0; expect_golden plan_5.txt
run plan --customers 5 -o json;                  expect_code 0; expect_golden plan_5.json
run plan --customers 1000 --price-per-customer-month 29 --growth-per-month 0.05 -o json
expect_code 0; expect_golden plan_1000.json
run plan --customers 5 --explain;                expect_code 0; expect_golden plan_5_explain.txt
run tiers list;                                  expect_code 0; expect_golden tiers_list.txt
run capacity --server hetzner-cx22 --engine whatsmeow; expect_code 0; expect_golden capacity_cx22.txt
# Swap (docs/capacity-model.md "Swap"): 136 Chromium slices on one OVH VPS-5 with 31 GB swap.
run plan --customers 34 --devices-per-customer 4 --engine webjs --swap
expect_code 0; expect_golden plan_swap_136.txt
run plan --customers 34 --devices-per-customer 4 --engine webjs --swap -o json
expect_code 0
expect_json "d['cost']['monthly_usd'] == 40.4 and [(r['plan'], r['count']) for r in d['layout']] == [('ovh-vps-5', 1)]"
expect_json "d['workload']['swap'] is True and 0.66 < d['utilization']['swap'] < 0.67"
run plan --customers 34 --devices-per-customer 4 --engine webjs -o json
expect_code 0; expect_json "d['cost']['monthly_usd'] > 40.4 and 'swap' not in d['workload']"
run capacity --server ovh-vps-5 --engine webjs --devices-per-customer 1 --swap -o json
expect_code 0
expect_json "d['comfortable_customers'] == 137 and d['max_customers'] == 198 and d['binding_resource'] == 'RAM + swap'"
expect_json "any('swap-in rate' in n for n in d['notes'])"
run plan --customers 34 --idle-share 1.5 --swap; expect_code 2; expect_err "--idle-share"
# The crmd engine (docs/capacity-model.md "The crmd engine"): this runtime as bench/fidelity measured it.
run plan --customers 100 --engine crmd --devices-per-customer 1 --explain
expect_code 0; expect_golden plan_crmd_100.txt
run plan --customers 100 --engine crmd --devices-per-customer 1 -o json
expect_code 0; expect_json "d['demand']['ram_bytes']['engine_base'] > 0 and d['demand']['ram_bytes']['sessions'] == 0"

# Revenue (docs/capacity-model.md "Revenue"): the source's $9 plan with its 50 % launch coupon on
# the 80 webjs customers of one OVH VPS-5 ($40.40): break-even 5 at full price, 9 during launch.
run plan --customers 80 --devices-per-customer 1 --engine webjs --price-plan basic --coupon launch50
expect_code 0; expect_golden plan_80_launch.txt
run plan --customers 80 --devices-per-customer 1 --engine webjs --price-plan basic --coupon launch50 -o json
expect_json "d['revenue']['price_plan'] == 'basic' and d['revenue']['break_even_customers'] == 5"
expect_json "d['revenue']['coupon']['launch']['mrr_usd'] == 360 and d['revenue']['coupon']['launch']['break_even_customers'] == 9"
expect_json "[p['price_plan'] for p in d['revenue']['by_plan']] == ['basic', 'pro', 'business']"
run tiers pricing;                               expect_code 0; expect_golden tiers_pricing.txt
run plan --customers 5 --price-plan gold;        expect_code 2; expect_err "price_plan: unknown 'gold' (expected one of: basic, pro, business)"
run plan --customers 5 --price-plan pro --coupon launch50; expect_code 2; expect_err "applies only to the plans basic"
run plan --customers 5 --coupon launch50;        expect_code 2; expect_err "coupon: needs a price"

# Growth month by month: the tier each month needs and the scale triggers crossed, p95 said once
# (docs/capacity-model.md "Scale triggers").
run plan --customers 5 --growth-per-month 0.2;   expect_code 0; expect_golden plan_5_growth.txt
run plan --customers 5 --growth-per-month 0.2 -o json
expect_json "[m['tier'] for m in d['growth']['projection']][3:5] == [1, 2] and d['growth']['projection'][5]['triggers_fired'] == [d['growth']['triggers'][0]['trigger']]"
# Cost lines (docs/capacity-model.md "Cost lines"): off-host backups, bandwidth; the opt-in replica.
run plan --customers 5 --backups off-host -o json
expect_code 0; expect_json "d['cost']['backups'] == 'off-host' and d['cost']['monthly_usd'] == 9.59 and [l['item'] for l in d['cost']['lines']] == ['servers', 'backups', 'bandwidth']"
run plan --customers 5 --backups offsite;        expect_code 2; expect_err "--backups: backups: expected off-host or local"
run plan --customers 300 --replica -o json
expect_code 0; expect_json "d['workload']['replica'] is True and d['knobs']['DB_READ_REPLICA_URL'] == 'postgresql://postgres-replica:5432/crm' and [r['plan'] for r in d['layout'] if r['role'] == 'postgres-replica'] == [r['plan'] for r in d['layout'] if r['role'] == 'postgres']"

# JSON contract (docs/capacity-model.md).
run plan --customers 50 --price-per-customer-month 29 -o json
expect_code 0
expect_json "set(['workload','demand','tier','layout','utilization','zone','knobs','postgres','cost','growth','revenue','warnings']) <= set(d)"
expect_json "d['demand']['ram_bytes']['total'] == sum(d['demand']['ram_bytes'][k] for k in ['sessions','websockets','queue','buffers','services'])"
expect_json "d['revenue']['mrr_usd'] == 1450 and d['tier']['id'] == 2"
run plan --customers 50 -o json;                 expect_json "'revenue' not in d"
run plan --customers 50 -o yaml;                 expect_code 0; expect_out "tier:"; expect_out "  id: 2"
run plan --customers 50 -o csv;                  expect_code 0; expect_out "tier_id"
run plan --customers 50 -o markdown;             expect_code 0; expect_out "| role | count |"
run plan --customers 50 --ha -o json;            expect_json "d['tier']['id'] == 4"
run plan --customers 50 --regions 3 -o json;     expect_json "d['tier']['id'] == 5"

# Workload file, flags override it.
printf 'customers: 40\nengine: noweb\n' >"$TMP/w.yaml"
run plan -f "$TMP/w.yaml" --customers 60 -o json
expect_code 0; expect_json "d['workload']['customers'] == 60 and d['workload']['engine'] == 'noweb'"

# Bad input: exit 2 and a message naming the field (and file:line:col).
run plan;                                        expect_code 2; expect_err "customers: required"
run plan --customers -5;                         expect_code 2; expect_err "customers"
run plan --customers 12x;                        expect_code 2; expect_err '--customers: customers: expected a whole number, got "12x"'
run plan --customers 1000000000000;              expect_code 2; expect_err "out of range"
run plan --customers 5 --engine baileys;         expect_code 2; expect_err "engine: unknown 'baileys'"
run plan --customers 5 --growth-per-month nan;   expect_code 2; expect_err "growth_per_month"
run plan --customers 5 -o xml;                   expect_code 2; expect_err "unknown format 'xml'"
printf 'customers: 10\nengin: webjs\n' >"$TMP/typo.yaml"
run plan -f "$TMP/typo.yaml";                    expect_code 2; expect_err "typo.yaml:2:1: unknown key 'engin'"
printf 'customers: 10\nretention_days: 2 MB\n' >"$TMP/unit.yaml"
run plan -f "$TMP/unit.yaml";                    expect_code 2; expect_err "unit.yaml:2:17: retention_days"
: >"$TMP/empty.yaml"
run plan -f "$TMP/empty.yaml";                   expect_code 2; expect_err "empty workload file"
run plan -f "$TMP/missing.yaml";                 expect_code 2; expect_err "cannot open"
printf 'ram_per_websocket: {value: 1 MB}\n' >"$TMP/rules.yaml"
run --rules "$TMP/rules.yaml" plan --customers 5; expect_code 2; expect_err "missing field 'source'"
printf 'ram_per_websocket: {value: 1 MB, source: test}\n' >"$TMP/rules.yaml"
run --rules "$TMP/rules.yaml" plan --customers 5 -o json
expect_code 0; expect_json "d['demand']['ram_bytes']['websockets'] == 5 * 2 * 1000000"

# Capacity.
run capacity --server ovh-vps-5 --engine webjs -o json
expect_code 0; expect_json "d['comfortable_customers'] == 45 and d['binding_resource'] == 'RAM' and d['max_devices'] == 2 * d['max_customers']"
run capacity --server nope-1 --engine whatsmeow; expect_code 2; expect_err "unknown server 'nope-1'"
run capacity --server aws-rds-large;             expect_code 2; expect_err "managed-postgres"
run capacity;                                    expect_code 2

# The whole-catalog search: the source material's 80 Chromium slices on one OVH VPS-5.
run plan --customers 80 --devices-per-customer 1 --engine webjs --price-per-customer-month 9 -o json
expect_code 0
expect_json "d['tier']['id'] == 2 and [(r['plan'], r['count']) for r in d['layout']] == [('ovh-vps-5', 1)]"
expect_json "d['cost']['monthly_usd'] == 40.4 and d['revenue']['break_even_customers'] == 5"
expect_json "d['search'] == {'servers': 'catalog', 'providers': [], 'prefer': []}"
run plan --customers 80 --devices-per-customer 1 --engine webjs
expect_code 0; expect_out "ovh-vps-5"; expect_out "runner-up"
run capacity --server ovh-vps-5 --engine webjs --devices-per-customer 1 -o json
expect_json "d['comfortable_customers'] == 89"
run plan --customers 90 --devices-per-customer 1 --engine webjs -o json
expect_code 0; expect_json "d['cost']['monthly_usd'] > 40.4 and d['tier']['id'] == 3"
# --provider restricts (repeatable or comma-separated), --prefer biases; the runner-up says what
# the preference costs.
run plan --customers 300 --provider do,hetzner -o json
expect_code 0; expect_json "all(r['provider'] in ('do', 'hetzner') for r in d['layout'])"
expect_json "d['search']['providers'] == ['do', 'hetzner']"
run plan --customers 5 --prefer do -o json
expect_code 0; expect_json "d['layout'][0]['plan'] == 'do-basic-2gb' and d['layout'][0]['runner_up']['plan'] == 'hetzner-cx22'"
run plan --customers 5 --provider linode;        expect_code 2; expect_err "--provider: unknown provider 'linode'"
run plan --customers 3000 --provider hetzner -o json
expect_code 0; expect_json "d['tier']['id'] == 4 and any('tier 5 (Enterprise) is out of reach' in w for w in d['warnings'])"
# A plan document carries its search: apply and render reproduce its layout from it.
run plan --customers 300 --provider aws -o yaml
expect_code 0
printf '%s\n' "$OUT" >"$TMP/aws-plan.yaml"
run plan -f "$TMP/aws-plan.yaml" -o json
expect_code 0; expect_json "all(r['provider'] == 'aws' for r in d['layout'])"
# Batch takes the same flags for every row.
printf 'customers\n5\n300\n' >"$TMP/prospects.csv"
run plan --batch "$TMP/prospects.csv" --provider ovh
expect_code 0; expect_out "1x ovh-vps-5"
run plan --batch "$TMP/prospects.csv" --provider nope; expect_code 2; expect_err "unknown provider 'nope'"
# --jobs: planning threads; one (the main thread) and several write the same bytes.
{ echo 'name,customers,engine'; for i in $(seq 1 9000); do echo "\"p, $i\",$((i % 4000 + 1)),noweb"; done
  echo 'bad,12x,noweb'; } >"$TMP/many.csv"
run plan --batch "$TMP/many.csv" --jobs 1;       expect_code 2; expect_err "many.csv:9002: customers"
ONE=$OUT
run plan --batch "$TMP/many.csv" --jobs 3;       expect_code 2; expect_err "planned 9000 of 9001 rows"
[[ $OUT == "$ONE" ]] || fail "--jobs 3 wrote other bytes than --jobs 1"
run plan --batch "$TMP/prospects.csv" --jobs 0;  expect_code 2; expect_err "--jobs"

# Tiers.
run tiers show 4;                                expect_code 0; expect_out "Scale"; expect_out "postgres-replica"; expect_out "(sized as postgres-primary)"
run tiers show 9;                                expect_code 2; expect_err "no tier 9"
run tiers servers -o json;                       expect_code 0; expect_json "any(s['name'] == 'ovh-vps-5' and s['monthly_usd'] == 40.4 for s in d)"
run --catalog "$SRC/tiers" tiers list;           expect_code 0; expect_out "Enterprise"
run --catalog /nonexistent tiers list;           expect_code 2; expect_err "cannot read the catalog file"

finish
