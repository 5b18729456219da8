package main

import (
	"github.com/spf13/cobra"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/present"
	"github.com/routeops/routeops/router"
)

// orgPart parses "org/name" (a team or an agent).
func orgPart(s, what string) (string, string, error) {
	ref, err := router.ParseQueueRef(s)
	if err != nil {
		return "", "", usageErr("malformed %s %q: give it as org/%s, such as org-0007/billing", what, s, what)
	}
	return ref.Org, ref.Queue, nil
}

func (a *app) teamsCmd() *cobra.Command {
	var org string
	cmd := &cobra.Command{
		Use:     "teams",
		Short:   "Teams and their status",
		Example: `  routeops teams list --org org-0007`,
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List teams (every org's unless --org), with who paused them, why and since when",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withOps(cmd.Context(), func(o *ops.Ops) error {
				ts, err := o.Teams(cmd.Context(), org)
				if err != nil {
					return a.opsErr(err)
				}
				if a.output("table") == "json" {
					return a.printJSON(map[string]any{"teams": ts})
				}
				t := newTable(a.stdout, present.TeamHeaders...)
				for _, tm := range ts {
					t.row(present.TeamRow(tm)...)
				}
				return t.flush()
			})
		},
	}
	list.Flags().StringVar(&org, "org", "", "only this org")
	cmd.AddCommand(list)
	return cmd
}

func (a *app) teamCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "team",
		Short: "Pause or resume a team: a paused team's agents take no work",
		Example: `  routeops team pause org-0007/billing --reason "team offsite until 14:00"
  routeops team resume org-0007/billing`,
	}
	var reason string
	for _, st := range []router.TeamStatus{router.TeamPaused, router.TeamActive} {
		use, short, action := "pause ORG/TEAM --reason TEXT", "Pause a team, saying why", ops.ActionTeamPause
		if st == router.TeamActive {
			use, short, action = "resume ORG/TEAM", "Resume a paused team", ops.ActionTeamResume
		}
		c := &cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				org, team, err := orgPart(args[0], "team")
				if err != nil {
					return err
				}
				r := ""
				if st == router.TeamPaused {
					r = reason
				}
				if err := ops.CheckTeamStatus(st, r); err != nil {
					return a.opsErr(err)
				}
				if err := a.confirm(action, present.AskTeam(org, team, st, r)); err != nil {
					return err
				}
				return a.withOps(cmd.Context(), func(o *ops.Ops) error {
					res, err := o.SetTeamStatus(cmd.Context(), org, team, st, r)
					if err != nil {
						return a.opsErr(err)
					}
					return a.printAction(res, present.ActionOutcome(res))
				})
			},
		}
		if st == router.TeamPaused {
			c.Flags().StringVar(&reason, "reason", "", "why (required; recorded in the journal)")
		}
		cmd.AddCommand(c)
	}
	return cmd
}

func (a *app) agentsCmd() *cobra.Command {
	var org string
	cmd := &cobra.Command{Use: "agents", Short: "Agents, their status and load", Example: `  routeops agents list --org org-0007`}
	list := &cobra.Command{
		Use:   "list --org ORG",
		Short: "List an org's agents: team, status, load and capacity, skills",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if org == "" {
				return usageErr("agents list needs --org")
			}
			return a.withOps(cmd.Context(), func(o *ops.Ops) error {
				as, err := o.Agents(cmd.Context(), org)
				if err != nil {
					return a.opsErr(err)
				}
				if a.output("table") == "json" {
					return a.printJSON(map[string]any{"agents": as})
				}
				t := newTable(a.stdout, present.AgentHeaders...)
				for _, ag := range as {
					t.row(present.AgentRow(ag)...)
				}
				return t.flush()
			})
		},
	}
	list.Flags().StringVar(&org, "org", "", "the org (required)")
	cmd.AddCommand(list)
	return cmd
}

func (a *app) agentCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "agent", Short: "Change an agent's status"}
	set := &cobra.Command{
		Use:     "set-status ORG/AGENT available|away|offline",
		Short:   "Set an agent available, away or offline (journalled with your name)",
		Example: `  routeops agent set-status org-0007/agent-003 away`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, agent, err := orgPart(args[0], "agent")
			if err != nil {
				return err
			}
			st, err := router.ParseAgentStatus(args[1])
			if err != nil {
				return usageErr("%v", err)
			}
			if err := a.confirm(ops.ActionAgent, present.AskAgent(org, agent, st)); err != nil {
				return err
			}
			return a.withOps(cmd.Context(), func(o *ops.Ops) error {
				res, err := o.SetAgentStatus(cmd.Context(), org, agent, st)
				if err != nil {
					return a.opsErr(err)
				}
				return a.printAction(res, present.ActionOutcome(res))
			})
		},
	}
	cmd.AddCommand(set)
	return cmd
}

func (a *app) impactCmd() *cobra.Command {
	var opt ops.ImpactOptions
	cmd := &cobra.Command{
		Use:   "impact --since DURATION [--org ORG] [--sla DURATION]",
		Short: "Who was hurt: waits over the SLA, customer-minutes, stalls, quarantines and repairs, per org and queue",
		Long: `impact reports, over the conversations enqueued in the last --since, each one's
wait (to its assignment, or to now while it waits): per org and per queue, how many
waited longer than the SLA, the longest, median and 95th-percentile wait,
customer-minutes (the sum of the waits beyond the SLA, in minutes), the stall
windows (detected to cleared, with the cause), and the items quarantined and
repaired with how long each waited. -o markdown adds a small chart of the most
affected queues' waiting conversations and oldest wait over the window.`,
		Example: `  routeops impact --since 24h --sla 5m -o markdown > impact.md`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := ops.CheckImpact(opt); err != nil {
				return a.opsErr(err)
			}
			format := a.output("table")
			if format == "markdown" {
				opt.Charts = 5
			}
			opt.ListItems = 20
			st, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			bar := a.newProgress("impact", "steps")
			opt.Progress = bar.update
			rep, err := a.newOps(st).Impact(cmd.Context(), opt)
			bar.finish()
			if err != nil {
				return a.opsErr(err)
			}
			switch format {
			case "json":
				return a.printJSON(rep)
			case "markdown":
				return a.printLines(present.ImpactMarkdown(rep))
			}
			if err := a.printLines(append(present.ImpactHeader(rep), "")); err != nil {
				return err
			}
			t := newTable(a.stdout, present.ImpactHeaders...)
			for _, o := range rep.Orgs {
				if !o.Affected {
					continue
				}
				t.row(present.ImpactRow(o.Org, o.ImpactFigures)...)
				for _, q := range o.Queues {
					t.row(present.ImpactRow("  "+q.Queue, q.ImpactFigures)...)
				}
			}
			return t.flush()
		},
	}
	cmd.Flags().DurationVar(&opt.Since, "since", 0, "the window: conversations enqueued in the last DURATION (required), such as 24h")
	cmd.Flags().StringVar(&opt.Org, "org", "", "only this org")
	cmd.Flags().DurationVar(&opt.SLA, "sla", ops.DefaultSLA, "the wait a conversation may have before it counts as hurt")
	return cmd
}
