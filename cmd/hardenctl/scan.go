package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/event"
	"github.com/hardenctl/hardenctl/hardening"
	"github.com/hardenctl/hardenctl/profiles"
	"github.com/hardenctl/hardenctl/remote"
)

// Exit codes of scan and harden, for scripts and CI.
const (
	exitBelowMinScore = 2 // every host ran, at least one scored below --min-score
	exitHostFailed    = 3 // at least one host has no result (unreachable, host key, timeout, error)
)

// scanOptions are the flags of scan and harden.
type scanOptions struct {
	remediate bool

	hosts      []string
	hostsFile  string
	bastion    string
	user       string
	identities []string
	knownHosts string
	tofu       bool
	// From the configuration's ssh and bastion blocks (no flags): whether to use the agent,
	// the connect timeout, and the bastion's given host keys.
	noAgent         bool
	connectTimeout  time.Duration
	bastionHostKeys []string

	contentDir  string
	datastream  string
	profile     string
	scapProfile string
	tailoring   string
	minScore    float64
	concurrency int
	timeout     time.Duration
	reportDir   string
	json        bool
	junit       string

	// From the configuration (-C): its servers by fleet or zone, its settings as defaults.
	configFlags
	cloudFlags
	fleets []string
	zones  []string
	cfg    *config.Config
	// inventory are the hosts found through the cloud (--fleet, --zone).
	inventory []hardening.Host
}

func newScanCmd(g *globals) *cobra.Command   { return newOscapCmd(g, false) }
func newHardenCmd(g *globals) *cobra.Command { return newOscapCmd(g, true) }

func newOscapCmd(g *globals, remediate bool) *cobra.Command {
	o := scanOptions{remediate: remediate}
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "Scan hosts with OpenSCAP through the bastion and report their compliance",
		Long: `Scan runs oscap xccdf eval on every host, many at once, through the bastion. The
datastream comes from --content-dir on this machine (picked by the host's /etc/os-release,
its sha256 recorded), so every host is judged by the same content; hosts need only oscap.

The run directory (--report-dir/RUN-ID) receives each host's ARF, results and HTML report
and summary.json. The fleet summary goes to stdout (-json for machines).

Exit status: 0 all hosts scanned and at or above --min-score; 2 a host scored below it;
3 a host could not be scanned (unreachable, host key, timeout, no oscap, oscap error);
1 the command itself failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("min-score") {
				o.minScore = -1 // the profile's
			}
			if err := o.fromConfig(g, cmd.Flags().Changed); err != nil {
				return err
			}
			if len(o.fleets)+len(o.zones) > 0 {
				hosts, known, cleanup, err := fleetHosts(cmd.Context(), g, o)
				if err != nil {
					return err
				}
				defer cleanup()
				o.inventory, o.knownHosts = hosts, known
			}
			return runOscap(cmd.Context(), g, o, newSSHDialer)
		},
	}
	if remediate {
		cmd.Use = "harden"
		cmd.Short = "Remediate hosts with OpenSCAP, keep the SSH path through the bastion, and rescan"
		cmd.Long = `Harden scans every host, runs oscap --remediate, installs what the profile adds
(auditd rules watching etcd's data on masters, the secret-mount watcher on nodes), then checks
that sshd still lets --user in from the bastion (repairing it when a rule cut that path),
restarts sshd, connects again and scans once more. The summary shows the score before and after.

The bastion itself may be hardened too (--host with the bastion's address): it is reached
directly, and the guard also keeps the bastion user's login and TCP forwarding from this
machine's address (a Match block, or the saved /etc/ssh), proving it on a new bastion connection.

Remediating as root is allowed only while the guard can keep key-only root login from the
bastion's address; use a sudo user (--user) instead.

Exit status as for scan: 0 passed, 2 below --min-score, 3 a host failed, 1 command error.`
	}
	o.flags(cmd.Flags())
	o.configFlags.register(cmd)
	o.cloudFlags.register(cmd)
	return cmd
}

// flags registers scan's and harden's flags on f, setting o's fields to their defaults.
func (o *scanOptions) flags(f *pflag.FlagSet) {
	f.StringArrayVar(&o.hosts, "host", nil, "a host to scan: NAME=ADDRESS or ADDRESS[:PORT] (repeatable)")
	f.StringVar(&o.hostsFile, "hosts-file", "", "read hosts from a file, one NAME=ADDRESS or ADDRESS per line (# comments)")
	f.StringVar(&o.bastion, "bastion", "", "reach the hosts through this bastion: [USER@]ADDRESS[:PORT]")
	f.StringVar(&o.user, "user", "root", "login user on the hosts (a non-root user runs oscap through sudo)")
	f.StringArrayVarP(&o.identities, "identity", "i", nil, "private key file (repeatable; default: ssh-agent)")
	f.StringVar(&o.knownHosts, "known-hosts", filepath.Join(homeDir(), ".ssh", "known_hosts"), "known_hosts file that verifies the hosts and the bastion")
	f.BoolVar(&o.tofu, "trust-on-first-use", false, "accept and record the key of a host not yet in known_hosts (a changed key is still refused)")
	f.StringVar(&o.contentDir, "content-dir", "content", "directory of SCAP datastreams (ssg-<os><major>-ds.xml)")
	f.StringVar(&o.datastream, "datastream", "", "use this datastream file name from --content-dir for every host, whatever its OS")
	f.StringVar(&o.profile, "profile", "standard", "hardenctl profile: "+strings.Join(profiles.Names(), ", ")+" or a profile block; with a configuration (-C), the default is the profile the fleets' image was built with, else the compliance block's")
	f.StringVar(&o.scapProfile, "scap-profile", "", "evaluate this XCCDF profile id on every host instead of the hardenctl profile's (e.g. one of --tailoring's)")
	f.StringVar(&o.tailoring, "tailoring", "", "XCCDF tailoring file to apply (its profile that extends the SCAP profile is evaluated, unless --scap-profile names one)")
	f.Float64Var(&o.minScore, "min-score", 0, "fail when a host scores below this (default: the profile's)")
	f.IntVar(&o.concurrency, "concurrency", hardening.DefaultConcurrency, "hosts running oscap at once (the ssh block's concurrency more connect and upload ahead; without a configuration, as many more)")
	f.DurationVar(&o.timeout, "timeout", 10*time.Minute, "per-host limit for the whole run (connect, upload, oscap, download)")
	f.StringVar(&o.reportDir, "report-dir", "reports", "parent of the run directories")
	f.BoolVar(&o.json, "json", false, "print the summary as JSON")
	f.StringVar(&o.junit, "junit", "", "also write JUnit XML to this file")
	f.StringArrayVar(&o.fleets, "fleet", nil, "scan the servers of this fleet of the configuration (repeatable)")
	f.StringArrayVar(&o.zones, "zone", nil, "scan the servers of the fleets in this zone of the configuration (repeatable)")
}

// sshConcurrency is how many hosts connect and upload at once ahead of those running oscap:
// the configuration's ssh concurrency (0 without a configuration: as many as --concurrency).
func (o scanOptions) sshConcurrency() int {
	if o.cfg == nil {
		return 0
	}
	return o.cfg.SSH.Concurrency
}

// dialerFactory builds the SSH dialer from the flags; the returned close ends the shared
// bastion connection.
type dialerFactory func(ctx context.Context, g *globals, o scanOptions) (hardening.Dialer, func() error, error)

// runOscap is scan and harden: flags in, hosts run, reports out.
func runOscap(ctx context.Context, g *globals, o scanOptions, newDialer dialerFactory) error {
	hosts, err := readHosts(o.hosts, o.hostsFile)
	if err != nil {
		return err
	}
	hosts = append(hosts, o.inventory...)
	if len(hosts) == 0 {
		return fmt.Errorf("no hosts: give --host, --hosts-file, --fleet or --zone")
	}
	choice, err := o.resolveProfile()
	if err != nil {
		return err
	}
	prof := choice.Profile
	if o.datastream != "" {
		prof.Datastream = o.datastream
	}
	if o.scapProfile != "" {
		prof.SCAPProfile = map[string]string{"*": o.scapProfile}
	}
	var tailoring []byte
	if o.tailoring != "" {
		prof.Tailoring = o.tailoring
		if tailoring, err = os.ReadFile(o.tailoring); err != nil {
			return fmt.Errorf("read tailoring: %w", err)
		}
	}
	if o.minScore >= 0 {
		prof.MinScore = o.minScore
	}
	sum, results, err := oscapHosts(ctx, g, o, newDialer, hosts, prof, tailoring, choice.Source, &event.Text{W: g.stderr, Verbose: g.verbose})
	if err != nil {
		return err
	}
	if err := sum.WriteFile(sum.RunDir); err != nil {
		return err
	}
	if o.junit != "" {
		if err := writeJUnitFile(o.junit, sum, results); err != nil {
			return err
		}
	}
	if o.json {
		err = sum.WriteJSON(g.stdout)
	} else {
		err = sum.WriteText(g.stdout)
	}
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	skipped := 0
	for _, h := range sum.Hosts {
		switch {
		case h.Status == hardening.StatusSkipped:
			skipped++
		case !h.Status.Ran():
			return &exitError{code: exitHostFailed}
		}
	}
	if skipped > 0 {
		return fmt.Errorf("the run was halted before %d of %d hosts", skipped, len(sum.Hosts))
	}
	if !sum.Passed {
		return &exitError{code: exitBelowMinScore}
	}
	return nil
}

// oscapHosts runs the scan (or harden) of hosts with prof in a new run directory under
// o.reportDir and summarises it (sum.RunDir); nothing is written but the hosts' results.
func oscapHosts(ctx context.Context, g *globals, o scanOptions, newDialer dialerFactory, hosts []hardening.Host,
	prof profiles.Profile, tailoring []byte, source string, hook event.Hook) (hardening.Summary, []hardening.HostResult, error) {
	content, err := hardening.Content{Dir: o.contentDir}.Load()
	if err != nil {
		return hardening.Summary{}, nil, err
	}
	if len(content) == 0 {
		return hardening.Summary{}, nil, fmt.Errorf("no datastreams (*-ds.xml) in %s", o.contentDir)
	}
	for _, ds := range content {
		g.logger.Info("content", "datastream", ds.Name, "sha256", ds.SHA256)
	}

	started := time.Now()
	runID := hardening.NewRunID(started)
	runDir := filepath.Join(o.reportDir, runID)
	if err := os.MkdirAll(runDir, 0o750); err != nil {
		return hardening.Summary{}, nil, fmt.Errorf("create run directory: %w", err)
	}

	dialer, closeDialer, err := newDialer(ctx, g, o)
	if err != nil {
		return hardening.Summary{}, nil, err
	}
	defer closeDialer()

	s := &hardening.Scanner{
		Dialer: dialer, Content: content, Profile: prof, Tailoring: tailoring,
		Remediate: o.remediate, Timeout: o.timeout, RunDir: runDir, LoginUser: o.user, Logger: g.logger,
		SSHConcurrency: o.sshConcurrency(),
	}
	results := s.Fleet(ctx, hosts, o.concurrency, hook)

	command := "scan"
	if o.remediate {
		command = "harden"
	}
	sum := hardening.NewSummary(runID, command, prof.Name, prof.MinScore, started, results)
	sum.RunDir, sum.ProfileSource = runDir, source
	return sum, results, nil
}

func writeJUnitFile(path string, sum hardening.Summary, results []hardening.HostResult) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write JUnit XML: %w", err)
	}
	if err := hardening.WriteJUnit(f, sum, results); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readHosts parses --host values and the --hosts-file lines: NAME=ADDRESS or ADDRESS.
func readHosts(flags []string, file string) ([]hardening.Host, error) {
	var hosts []hardening.Host
	seen := map[string]string{}
	add := func(spec, where string) error {
		spec = strings.TrimSpace(spec)
		name, addr, ok := strings.Cut(spec, "=")
		if !ok {
			name, addr = spec, spec
		}
		name, addr = strings.TrimSpace(name), strings.TrimSpace(addr)
		if name == "" || addr == "" || strings.ContainsAny(addr, " \t") {
			return fmt.Errorf("%s: bad host %q: want NAME=ADDRESS or ADDRESS", where, spec)
		}
		if prev, dup := seen[name]; dup {
			return fmt.Errorf("%s: host %s given twice (first at %s)", where, name, prev)
		}
		seen[name] = where
		hosts = append(hosts, hardening.Host{Name: name, Address: addr})
		return nil
	}
	for _, h := range flags {
		if err := add(h, "--host"); err != nil {
			return nil, err
		}
	}
	if file == "" {
		return hosts, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("read hosts: %w", err)
	}
	defer f.Close()
	return hosts, readHostLines(f, file, add)
}

func readHostLines(r io.Reader, file string, add func(spec, where string) error) error {
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if strings.TrimSpace(line) == "" {
			continue
		}
		if err := add(line, fmt.Sprintf("%s:%d", file, n)); err != nil {
			return err
		}
	}
	return sc.Err()
}

func homeDir() string {
	h, err := os.UserHomeDir()
	if err != nil {
		return "."
	}
	return h
}

// sshConfig is how scan and harden reach hosts: the flags, and for what they do not say, the
// configuration's ssh and bastion blocks (fromConfig).
func (o scanOptions) sshConfig() (remote.Config, error) {
	ssh := config.SSH{User: o.user, IdentityFiles: o.identities, UseAgent: !o.noAgent, KnownHosts: o.knownHosts,
		TrustOnFirstUse: o.tofu, ConnectTimeout: o.connectTimeout}
	var bastion *config.Bastion
	if o.bastion != "" {
		bastion = &config.Bastion{Address: o.bastion, HostKeys: o.bastionHostKeys}
		if u, a, ok := strings.Cut(o.bastion, "@"); ok {
			bastion.User, bastion.Address = u, a
		}
	}
	cfg := remote.FromConfig(ssh, bastion)
	if len(cfg.IdentityFiles) == 0 && !cfg.UseAgent {
		return cfg, fmt.Errorf("no SSH key: give -i/--identity or run an ssh-agent (SSH_AUTH_SOCK)")
	}
	return cfg, nil
}

// newSSHDialer builds the SSH layer's dialer (known_hosts, keys, bastion) from the options.
func newSSHDialer(ctx context.Context, g *globals, o scanOptions) (hardening.Dialer, func() error, error) {
	cfg, err := o.sshConfig()
	if err != nil {
		return nil, nil, err
	}
	d, err := dialSSH(ctx, cfg, g.logger)
	if err != nil {
		return nil, nil, err
	}
	return d, d.Close, nil
}
