/* strata-plan-cli: runs strata-info's --plan code on its own until the lead wires info_plan_main
 * into strata-info (tests and manual runs: plan_cli --model 20b --topology 48x4x2 ...). */
#include <stdio.h>

int info_plan_main(int argc, char **argv, FILE *out);

int main(int argc, char **argv) { return info_plan_main(argc, argv, stdout); }
