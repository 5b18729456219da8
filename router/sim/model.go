package sim

import (
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/routeops/routeops/router"
)

// Reference data shared by the seed generator and the live simulator.
//
// Every org has the same shape of skills, which keeps routing predictable:
//   - every agent speaks "en", so an item that needs "en" can go to anyone;
//   - each team has one or two skills of its own that only its members hold
//     (billing has billing and refunds, technical has api and mobile...),
//     so an item that needs them can go exactly to that team;
//   - some agents have a personal extra language that no item ever needs.
//
// An item's eligible agents are therefore either every agent or exactly
// one team, which is what lets Generate promise that an org with enough
// capacity drains completely (see budgets in seed.go).

// commonSkill is held by every agent.
const commonSkill = "en"

var commonSkills = []string{commonSkill}

type queueTemplate struct {
	id       string
	priority int
}

// queueTemplates are the first queues of every org, in order; "default"
// comes first. Priorities are distinct; higher is served first.
var queueTemplates = []queueTemplate{
	{"default", 10},
	{"billing", 30},
	{"vip", 80},
	{"escalations", 90},
	{"technical", 40},
	{"sales", 20},
	{"returns", 50},
	{"onboarding", 60},
	{"enterprise", 70},
	{"urgent", 100},
}

// queueIDPriority names the i-th queue of an org. Queues past the
// templates are "queue-11", "queue-12"..., with distinct priorities that no
// template uses.
func queueIDPriority(i int) (string, int) {
	if i < len(queueTemplates) {
		return queueTemplates[i].id, queueTemplates[i].priority
	}
	k := i - len(queueTemplates)
	p := k + k/9 + 1 // 1..9, 11..19, ...: never a multiple of 10
	if p > 99 {
		p = 100 + k
	}
	return "queue-" + strconv.Itoa(i+1), p
}

type teamTemplate struct {
	id     string
	skills []string
}

// teamTemplates are the first teams of every org, in order. Their skills
// are distinct, so each skill belongs to one team only.
var teamTemplates = []teamTemplate{
	{"tier1", []string{"de", "fr"}},
	{"billing", []string{"billing", "refunds"}},
	{"technical", []string{"api", "mobile"}},
	{"tier2", []string{"integrations", "sso"}},
	{"vip", []string{"accounts", "es"}},
	{"sales", []string{"pricing", "trials"}},
	{"onboarding", []string{"setup", "training"}},
	{"returns", []string{"shipping", "returns"}},
	{"enterprise", []string{"security", "compliance"}},
	{"partners", []string{"resellers", "nl"}},
}

// personalSkills are extra languages some agents speak; no item requires
// them.
var personalSkills = []string{"it", "pt", "ja", "pl", "sv"}

var orgNameBases = []string{
	"Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne",
	"Wonka", "Soylent", "Tyrell", "Cyberdyne", "Aperture", "Oscorp", "Gringotts",
	"Monarch", "Pied Piper", "Dunder Mifflin", "Bluth", "Sterling Cooper",
	"Northwind", "Contoso", "Fabrikam", "Tailspin", "Litware", "Adventure Works",
}

var orgNameSuffixes = []string{"Corp", "Ltd", "Inc", "GmbH", "Labs", "Group", "Systems", "Retail"}

// OrgID is the id of org number n (1-based): org-0001, org-0002...
func OrgID(n int) string { return fmt.Sprintf("org-%04d", n) }

var tiers = []string{"bronze", "silver", "gold", "platinum"}

// orgModel is one org's reference data plus what item generation needs.
type orgModel struct {
	num    int
	org    router.Org
	queues []router.Queue
	teams  []teamModel
	agents []router.Agent
	// agentTeam is the index in teams of each agent's team.
	agentTeam []int
	// queueWeights is the cumulative weight of picking each queue for an
	// item without affinity.
	queueWeights []int
	queueIndex   map[string]int
	// teamWeights is the cumulative weight of each team for team-bound
	// items (set by the caller with setTeamWeights).
	teamWeights []int
}

type teamModel struct {
	id string
	// skills are held by every member and by no one else.
	skills  []string
	members []int
	// avail counts members that are available.
	avail int
}

// buildOrg builds org n with the given shape. Every agent starts available
// with the given capacity; callers change statuses afterwards.
func buildOrg(r *rand.Rand, n, nQueues, nTeams, nAgents, capacity int) *orgModel {
	id := OrgID(n)
	m := &orgModel{num: n, queueIndex: make(map[string]int, nQueues)}
	m.org = router.Org{ID: id, Name: orgNameBases[r.IntN(len(orgNameBases))] + " " +
		orgNameSuffixes[r.IntN(len(orgNameSuffixes))]}

	m.queues = make([]router.Queue, nQueues)
	m.queueWeights = make([]int, nQueues)
	total := 0
	for i := range nQueues {
		qid, p := queueIDPriority(i)
		m.queues[i] = router.Queue{OrgID: id, ID: qid, Priority: p}
		m.queueIndex[qid] = i
		w := 2
		if i == 0 {
			w = 8 // most conversations land in default
		}
		total += w
		m.queueWeights[i] = total
	}

	m.teams = make([]teamModel, nTeams)
	for i := range nTeams {
		t := &m.teams[i]
		if i < len(teamTemplates) {
			tt := teamTemplates[i]
			t.id = tt.id
			// Each org's teams hold both of their skills or one of them.
			switch r.IntN(3) {
			case 0:
				t.skills = tt.skills[:1]
			case 1:
				t.skills = tt.skills[1:]
			default:
				t.skills = tt.skills
			}
		} else {
			t.id = "team-" + strconv.Itoa(i+1)
		}
	}

	width := 3
	if d := len(strconv.Itoa(nAgents)); d > width {
		width = d
	}
	m.agents = make([]router.Agent, nAgents)
	m.agentTeam = make([]int, nAgents)
	for i := range nAgents {
		ti := i % nTeams
		t := &m.teams[ti]
		skills := make([]string, 0, 2+len(t.skills))
		skills = append(skills, commonSkill)
		skills = append(skills, t.skills...)
		if r.IntN(10) < 3 {
			skills = append(skills, personalSkills[r.IntN(len(personalSkills))])
		}
		m.agents[i] = router.Agent{OrgID: id, ID: fmt.Sprintf("agent-%0*d", width, i+1), TeamID: t.id,
			Skills: skills, Status: router.AgentAvailable, Capacity: capacity}
		m.agentTeam[i] = ti
		t.members = append(t.members, i)
		t.avail++
	}
	return m
}

// teamRows returns the org's teams as store rows, all active.
func (m *orgModel) teamRows() []router.Team {
	out := make([]router.Team, len(m.teams))
	for i, t := range m.teams {
		out[i] = router.Team{OrgID: m.org.ID, ID: t.id, Status: router.TeamActive}
	}
	return out
}

// setStatus changes agent i's status and keeps the team's count.
func (m *orgModel) setStatus(i int, st router.AgentStatus) {
	a := &m.agents[i]
	t := &m.teams[m.agentTeam[i]]
	if a.Status == router.AgentAvailable {
		t.avail--
	}
	if st == router.AgentAvailable {
		t.avail++
	}
	a.Status = st
}

// setTeamWeights weighs team-bound items: by available members when
// byAvailable, otherwise by all members.
func (m *orgModel) setTeamWeights(byAvailable bool) {
	m.teamWeights = make([]int, len(m.teams))
	total := 0
	for i, t := range m.teams {
		if byAvailable {
			total += t.avail
		} else {
			total += len(t.members)
		}
		m.teamWeights[i] = total
	}
}

// pickTeam returns a team index by weight, or -1 when no team qualifies.
func (m *orgModel) pickTeam(r *rand.Rand) int {
	if len(m.teamWeights) == 0 || m.teamWeights[len(m.teamWeights)-1] == 0 {
		return -1
	}
	return pickCumulative(r, m.teamWeights)
}

func pickCumulative(r *rand.Rand, cum []int) int {
	x := r.IntN(cum[len(cum)-1])
	// Linear scan: the tables are short.
	for i, c := range cum {
		if x < c {
			return i
		}
	}
	return len(cum) - 1
}

// classAll marks requirements that every agent meets.
const classAll = -1

// itemAttributes draws the routing attributes of a new item. It returns
// the attributes, the queue index, and the requirement class: classAll, or
// the index of the one team whose members (and nobody else) can take it.
//
// allow, when not nil, is asked before a team-bound requirement is used;
// when it refuses, the item gets no requirement instead. The number of
// random draws does not depend on its answer.
func (m *orgModel) itemAttributes(r *rand.Rand, allow func(team int) bool) (router.Attributes, int, int) {
	var a router.Attributes
	switch x := r.IntN(100); {
	case x < 45:
		a.Channel = "chat"
	case x < 75:
		a.Channel = "email"
	case x < 90:
		a.Channel = "voice"
	default:
		a.Channel = "sms"
	}
	boost := 0
	switch x := r.IntN(100); {
	case x < 40:
	case x < 60:
		a.Tier = "bronze"
	case x < 80:
		a.Tier, boost = "silver", 10
	case x < 93:
		a.Tier, boost = "gold", 25
	default:
		a.Tier, boost = "platinum", 40
	}
	if a.Channel == "voice" {
		boost += 10
	}
	a.Priority = min(100, r.IntN(61)+boost)

	class := classAll
	x := r.IntN(100)
	y := r.IntN(10)
	ti := m.pickTeam(r)
	switch {
	case ti < 0:
	case x < 30: // ~30% must go to a team
		t := &m.teams[ti]
		a.Team = t.id
		if len(t.skills) > 0 && y < 4 {
			a.Skills = t.skills[y%len(t.skills) : y%len(t.skills)+1]
		}
		class = ti
	case x < 45: // ~15% need skills but no particular team
		t := &m.teams[ti]
		switch {
		case y < 4 || len(t.skills) == 0:
			a.Skills = commonSkills
		case y < 7:
			a.Skills = t.skills[:1]
			class = ti
		default:
			a.Skills = t.skills
			class = ti
		}
	}
	if class != classAll && allow != nil && !allow(class) {
		a.Team, a.Skills, class = "", nil, classAll
	}

	q := -1
	z := r.IntN(10)
	switch {
	case a.Team != "" && z < 7:
		q = m.queueFor(a.Team)
	case a.Tier == "platinum" && z < 6:
		q = m.queueFor("vip")
	}
	w := pickCumulative(r, m.queueWeights)
	if q < 0 {
		q = w
	}
	return a, q, class
}

func (m *orgModel) queueFor(id string) int {
	if i, ok := m.queueIndex[id]; ok {
		return i
	}
	return -1
}

// earlierRevision derives an earlier version of final attributes: before
// triage the item often had a lower priority, no tier, or no requirement
// yet. Its requirements are either none or final's, so it stays
// satisfiable.
func earlierRevision(r *rand.Rand, final router.Attributes) router.Attributes {
	e := final
	e.Priority = max(0, final.Priority-r.IntN(30))
	if r.IntN(2) == 0 {
		e.Tier = ""
	}
	if r.IntN(3) == 0 {
		e.Team, e.Skills = "", nil
	}
	return e
}

// escalate returns a new revision of attributes during the life of an
// item: the customer chased, so priority rises and the tier may be
// upgraded. Requirements stay.
func escalate(r *rand.Rand, a router.Attributes) router.Attributes {
	e := a
	e.Priority = min(100, a.Priority+5+r.IntN(21))
	if r.IntN(10) < 3 {
		for i, t := range tiers {
			if t == a.Tier && i+1 < len(tiers) {
				e.Tier = tiers[i+1]
				break
			}
		}
		if a.Tier == "" {
			e.Tier = tiers[0]
		}
	}
	return e
}
