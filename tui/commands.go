package tui

import (
	"fmt"
	"strconv"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/present"
	"github.com/routeops/routeops/router"
)

// command is one : command of the console. The table below is the only
// place a command is written down: the parser, the usage in its errors,
// the hint after an unknown command and the help screen all come from it,
// and so do the rules on who may run it.
type command struct {
	name    string
	aliases []string
	args    string // the usage after the name: "NAME", "[ORG] [COUNT]"
	// minArgs and maxArgs bound the arguments (maxArgs 0: no bound); a
	// command given too few or too many answers with its usage.
	minArgs, maxArgs int
	writes           bool // changes something: refused read-only, and then not in the help
	demo             bool // only on the embedded demo, and only then in the help
	hidden           bool // runs, but is not listed
	run              func(m *Model, args []string) tea.Cmd
}

// usage is the command as the help writes it.
func (c *command) usage() string {
	if c.args == "" {
		return ":" + c.name
	}
	return ":" + c.name + " " + c.args
}

// allowed is the command's rules: a command that writes is refused in
// read-only mode, and a demo-only command outside the demo. Keys, the
// command line and the help all ask here.
func (c *command) allowed(readOnly, demo bool) bool {
	return !(c.writes && readOnly) && !(c.demo && !demo)
}

// commands is every : command, in the order the help lists them.
var commands = []*command{
	{name: "org", aliases: []string{"o"}, args: "NAME", minArgs: 1, maxArgs: 1, run: (*Model).cmdOrg},
	{name: "stalled", run: (*Model).cmdStalled},
	{name: "all", aliases: []string{"clear", "fleet"}, run: (*Model).cmdAll},
	{name: "timeline", aliases: []string{"tl"}, args: "[ORG]", run: (*Model).cmdTimeline},
	{name: "item", aliases: []string{"i"}, args: "ID", minArgs: 1, maxArgs: 1, run: (*Model).cmdItem},
	{name: "quarantine", aliases: []string{"x"}, args: "ID [REASON]", minArgs: 1, writes: true, run: (*Model).cmdQuarantine},
	{name: "release", aliases: []string{"u"}, args: "ID [--force]", minArgs: 1, maxArgs: 2, writes: true, run: (*Model).cmdRelease},
	{name: "pause", args: "ORG/QUEUE [REASON]", minArgs: 1, writes: true,
		run: func(m *Model, args []string) tea.Cmd { return m.cmdPause(args) }},
	{name: "resume", args: "ORG/QUEUE", minArgs: 1, maxArgs: 1, writes: true,
		run: func(m *Model, args []string) tea.Cmd { return m.cmdSetPaused(args[0], false) }},
	{name: "repair", args: "[ORG] [--allow-defaults] [--allow-fallback]", writes: true, run: (*Model).cmdRepair},
	{name: "drill", args: "[ORG] [COUNT]", writes: true, demo: true, run: (*Model).cmdDrill},
	{name: "team", args: "pause|resume ORG/TEAM [REASON]", minArgs: 2, writes: true, run: (*Model).cmdTeam},
	{name: "agent", args: "ORG/AGENT available|away|offline", minArgs: 2, maxArgs: 2, writes: true, run: (*Model).cmdAgent},
	{name: "impact", args: "[SINCE] [ORG]", maxArgs: 2, run: (*Model).cmdImpact},
	{name: "q", aliases: []string{"quit", "exit"}, run: func(m *Model, _ []string) tea.Cmd { return m.quit() }},
	{name: "q!", aliases: []string{"quit!"}, hidden: true, run: func(*Model, []string) tea.Cmd { return tea.Quit }},
	{name: "help", aliases: []string{"h"}, hidden: true, run: (*Model).cmdHelp},
}

// commandIndex finds a command by its name or an alias.
var commandIndex = func() map[string]*command {
	idx := map[string]*command{}
	for _, c := range commands {
		for _, n := range append([]string{c.name}, c.aliases...) {
			if idx[n] != nil {
				panic("tui: two commands named " + n)
			}
			idx[n] = c
		}
	}
	return idx
}()

// lookupCommand is the command named name (or aliased), or nil.
func lookupCommand(name string) *command { return commandIndex[strings.ToLower(name)] }

// commandUsages lists the commands that the help shows: every listed one
// when all is set, else those that the console may run (no writes in
// read-only mode, no demo-only command outside the demo).
func commandUsages(all, readOnly, demo bool) []string {
	var out []string
	for _, c := range commands {
		if c.hidden || !all && !c.allowed(readOnly, demo) {
			continue
		}
		out = append(out, c.usage())
	}
	return out
}

// commandHelp is the hint after an unknown command: every command.
var commandHelp = "commands: " + strings.Join(commandUsages(true, false, false), ", ")

// runCommand parses a : command line and runs it, if its rules permit.
func (m *Model) runCommand(line string) tea.Cmd {
	f := strings.Fields(line)
	if len(f) == 0 {
		return nil
	}
	name, args := strings.ToLower(f[0]), f[1:]
	c := lookupCommand(name)
	switch {
	case c == nil:
		m.setStatus(statusErr, "unknown command :"+name+"; "+commandHelp)
		return nil
	case !m.permit(c):
		return nil
	case len(args) < c.minArgs || c.maxArgs > 0 && len(args) > c.maxArgs:
		m.setStatus(statusErr, "usage: "+c.usage())
		return nil
	}
	return c.call(m, args)
}

// call runs the command's handler on a copy of the model. A model handed
// to a function value escapes to the heap, and Update would then allocate
// its model (some 17 KB) on every message; the copy costs that only when
// a command runs.
func (c *command) call(m *Model, args []string) tea.Cmd {
	h := new(Model)
	*h = *m
	cmd := c.run(h, args)
	*m = *h
	return cmd
}

// fail shows an error in the status line; it returns no command.
func (m *Model) fail(err error) tea.Cmd {
	m.setStatus(statusErr, present.Error(err))
	return nil
}

func (m *Model) cmdHelp([]string) tea.Cmd {
	m.showHelp = true
	return nil
}

func (m *Model) cmdOrg(args []string) tea.Cmd {
	name, err := m.matchOrg(args[0])
	if err != nil {
		return m.fail(err)
	}
	return m.openOrg(name)
}

func (m *Model) cmdStalled([]string) tea.Cmd {
	m.toFleet()
	m.fleet.show(&m.shared, "", true)
	if n := m.fleetLen(); n == 0 {
		m.setStatus(statusOK, "no stalled queues; esc shows every org")
	} else {
		m.setStatus(statusInfo, fmt.Sprintf("%d orgs with stalled queues; esc shows every org", n))
	}
	return nil
}

func (m *Model) cmdAll([]string) tea.Cmd {
	m.toFleet()
	m.fleet.show(&m.shared, "", false)
	m.setStatus(statusInfo, "showing every org")
	return nil
}

func (m *Model) cmdTimeline(args []string) tea.Cmd {
	org := m.contextOrg()
	if len(args) > 0 {
		if args[0] == "all" {
			org = ""
		} else {
			var err error
			if org, err = m.matchOrg(args[0]); err != nil {
				return m.fail(err)
			}
		}
	}
	return m.openTimeline(org)
}

func (m *Model) cmdItem(args []string) tea.Cmd {
	id, err := router.ParseItemID(args[0])
	if err != nil {
		return m.fail(err)
	}
	return m.openItem("", id)
}

func (m *Model) cmdQuarantine(args []string) tea.Cmd {
	id, err := router.ParseItemID(args[0])
	if err != nil {
		return m.fail(err)
	}
	return m.askQuarantine(id, "", strings.Join(args[1:], " "))
}

func (m *Model) cmdRelease(args []string) tea.Cmd {
	id, err := router.ParseItemID(args[0])
	if err != nil {
		return m.fail(err)
	}
	force := false
	if len(args) == 2 {
		if args[1] != "--force" && args[1] != "-f" {
			return m.fail(fmt.Errorf("release: %q is not --force", args[1]))
		}
		force = true
	}
	return m.askRelease(id, "", force)
}

func (m *Model) cmdSetPaused(arg string, pause bool) tea.Cmd {
	ref, err := router.ParseQueueRef(arg)
	if err != nil {
		return m.fail(err)
	}
	return m.askSetPaused(ref, pause, m.queueDepth(ref))
}

func (m *Model) cmdPause(args []string) tea.Cmd {
	ref, err := router.ParseQueueRef(args[0])
	if err != nil {
		return m.fail(err)
	}
	return m.askPauseWith(ref, m.queueDepth(ref), strings.Join(args[1:], " "))
}

func (m *Model) cmdRepair(args []string) tea.Cmd {
	org, allow := m.contextOrg(), repairAllow{}
	for _, a := range args {
		switch a {
		case "--allow-defaults", "-d", "defaults":
			allow.defaults = true
		case "--allow-fallback", "-f", "fallback":
			allow.fallback = true
		case "all", "--all":
			org = ""
		default:
			name, err := m.matchOrg(a)
			if err != nil {
				return m.fail(err)
			}
			org = name
		}
	}
	return m.askRepair(org, allow)
}

func (m *Model) cmdDrill(args []string) tea.Cmd {
	org, count, kind := m.drillOrg(), 3, ops.DrillMissingRevisions
	for _, a := range args {
		if n, err := strconv.Atoi(a); err == nil {
			count = n
		} else if a == ops.DrillMissingRevisions || a == ops.DrillCorruptRevisions {
			kind = a
		} else if name, err := m.matchOrg(a); err == nil {
			org = name
		} else {
			return m.fail(err)
		}
	}
	return m.askDrill(org, count, kind)
}
