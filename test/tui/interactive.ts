/**
 * What a person's terminal has and the test run may not: ink draws no frame at all while `CI` is
 * set (its is-in-ci check; .ci/run sets CI=1), so the TUI under tmux runs with it off.
 */
export const INTERACTIVE = "CI=0 CONTINUOUS_INTEGRATION=0";
