package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/provider/openstack"
	"github.com/hardenctl/hardenctl/schedule"
	"github.com/hardenctl/hardenctl/schedule/units"
)

// The scheduled rebuild's commands (issue 11); `schedule run` is in schedule_run.go.
func newScheduleCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "schedule", Short: "The scheduled rebuild: due times, runs, the units that run it, its history"}
	cmd.AddCommand(newScheduleNextCmd(g), newScheduleRunCmd(g), newScheduleInstallCmd(g), newScheduleHistoryCmd(g))
	return cmd
}

// scheduleNamed returns the configuration's schedule block name, or an error naming those it has.
func scheduleNamed(cfg *config.Config, name string) (*config.Schedule, error) {
	if s := cfg.Schedule(name); s != nil {
		return s, nil
	}
	names := make([]string, len(cfg.Schedules))
	for i, s := range cfg.Schedules {
		names[i] = s.Name
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("the configuration %s has no schedule block", cfg.Name)
	}
	return nil, fmt.Errorf("the configuration %s has no schedule %q (it has: %s)", cfg.Name, name, strings.Join(names, ", "))
}

type scheduleNextOptions struct {
	configFlags
	n    int
	json bool
}

func newScheduleNextCmd(g *globals) *cobra.Command {
	var o scheduleNextOptions
	cmd := &cobra.Command{
		Use:   "next [NAME]",
		Short: "Print the next due times of the schedule NAME (or of every schedule)",
		Long: `Prints the next due times of a schedule block, computed from its anchor (start, or
the weeks since the epoch) in its time zone, with UTC beside them.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(g, o.configFlags)
			if err != nil {
				return err
			}
			return runScheduleNext(g.stdout, cfg, args, o, time.Now())
		},
	}
	o.configFlags.register(cmd)
	cmd.Flags().IntVarP(&o.n, "n", "n", 5, "how many due times")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the due times as JSON")
	return cmd
}

// nextJSON is `schedule next -json`: stable field names, times in RFC 3339 UTC.
type nextJSON struct {
	Schedule string      `json:"schedule"`
	Every    string      `json:"every"`
	Zone     string      `json:"zone"`
	Due      []time.Time `json:"due"`
}

func runScheduleNext(w io.Writer, cfg *config.Config, args []string, o scheduleNextOptions, now time.Time) error {
	if o.n < 1 || o.n > 1000 {
		return fmt.Errorf("-n %d: give 1 to 1000 due times", o.n)
	}
	list := cfg.Schedules
	if len(args) == 1 {
		s, err := scheduleNamed(cfg, args[0])
		if err != nil {
			return err
		}
		list = []*config.Schedule{s}
	}
	if len(list) == 0 {
		return fmt.Errorf("the configuration %s has no schedule block", cfg.Name)
	}
	var out []nextJSON
	for i, s := range list {
		sl, err := schedule.NewSlots(s)
		if err != nil {
			return err
		}
		due := sl.NextN(now, o.n)
		if o.json {
			for j := range due {
				due[j] = due[j].UTC()
			}
			out = append(out, nextJSON{Schedule: s.Name, Every: s.Every, Zone: s.Zone, Due: due})
			continue
		}
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "schedule %s: %s\n", s.Name, describeSchedule(s))
		for _, t := range due {
			fmt.Fprintf(w, "  %s\n", sl.Format(t))
		}
	}
	if o.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	return nil
}

// describeSchedule says when a schedule runs, as its block does.
func describeSchedule(s *config.Schedule) string {
	tod := fmt.Sprintf("%02d:%02d %s", s.Hour, s.Minute, s.Zone)
	var when string
	switch {
	case s.Every != config.EveryMonthly:
		when = fmt.Sprintf("every %s, %s %s", s.Every, s.Weekday.String()[:3], tod)
	case s.MonthWeek != 0:
		nth := map[int]string{1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}[s.MonthWeek]
		when = fmt.Sprintf("monthly, the %s %s at %s", nth, s.Weekday, tod)
	default:
		when = fmt.Sprintf("monthly, day %d at %s", s.MonthDay, tod)
		if s.MonthDay > 28 {
			when += " (or the month's last day)"
		}
	}
	if !s.Start.IsZero() {
		when += ", from " + s.Start.String()
	}
	return when
}

type scheduleInstallOptions struct {
	configFlags
	cloud     string
	systemd   bool
	cronjob   bool
	dir       string
	binary    string
	image     string
	namespace string
	env       []string
}

func newScheduleInstallCmd(g *globals) *cobra.Command {
	var o scheduleInstallOptions
	cmd := &cobra.Command{
		Use:   "install NAME (--systemd | --cronjob)",
		Short: "Write the systemd units or the Kubernetes CronJob that run the schedule NAME",
		Long: `Writes what runs the schedule unattended, calling "hardenctl schedule run NAME --if-due"
at every slot (and, where the slots are no calendar pattern, such as every 2 weeks, more
often: the run decides):

  --systemd   DIR/hardenctl-CONFIG-NAME.service and .timer (then: systemctl daemon-reload;
              systemctl enable --now hardenctl-CONFIG-NAME.timer)
  --cronjob   DIR/hardenctl-CONFIG-NAME.cronjob.yaml, a batch/v1 CronJob (kubectl apply -f):
              the configuration from the ConfigMap hardenctl-CONFIG-NAME-config, clouds.yaml
              from the Secret hardenctl-CONFIG-NAME-clouds

The paths written are printed on stdout.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(g, o.configFlags)
			if err != nil {
				return err
			}
			return runScheduleInstall(g, cfg, args[0], o)
		},
	}
	o.configFlags.register(cmd)
	cmd.Flags().BoolVar(&o.systemd, "systemd", false, "write a systemd service and timer")
	cmd.Flags().BoolVar(&o.cronjob, "cronjob", false, "write a Kubernetes CronJob")
	cmd.Flags().StringVar(&o.dir, "dir", ".", "the directory to write to (systemd: e.g. /etc/systemd/system)")
	cmd.Flags().StringVar(&o.cloud, "cloud", "", "clouds.yaml entry the runs use (OS_CLOUD; default: the config's cloud block)")
	cmd.Flags().StringVar(&o.binary, "binary", "", "systemd: the hardenctl the service runs (default: this one)")
	cmd.Flags().StringVar(&o.image, "image", "", "cronjob: the container image with hardenctl and the SCAP content")
	cmd.Flags().StringVar(&o.namespace, "namespace", "", "cronjob: the namespace (default: kubectl's)")
	cmd.Flags().StringArrayVar(&o.env, "env", nil, "more environment for the runs, NAME=value (repeatable), e.g. HARDENCTL_VAR_ssh_user=debian")
	return cmd
}

func runScheduleInstall(g *globals, cfg *config.Config, name string, o scheduleInstallOptions) error {
	s, err := scheduleNamed(cfg, name)
	if err != nil {
		return err
	}
	if o.systemd == o.cronjob {
		return errors.New("say which: --systemd or --cronjob")
	}
	if err := checkUnitEnv(cfg, o.env); err != nil {
		return err
	}
	uo := units.Options{Config: cfg.Name, Schedule: s, Cloud: o.cloud, Env: o.env,
		Image: o.image, Namespace: o.namespace}
	base := filepath.Join(o.dir, units.Name(cfg.Name, s.Name))
	files := map[string][]byte{}
	var order []string
	if o.systemd {
		uo.Binary = o.binary
		if uo.Binary == "" {
			if uo.Binary, err = os.Executable(); err != nil {
				return fmt.Errorf("find this hardenctl's path (give --binary): %w", err)
			}
		}
		if uo.Binary, err = filepath.Abs(uo.Binary); err != nil {
			return err
		}
		if uo.ConfigDir, err = filepath.Abs(g.configPath); err != nil {
			return err
		}
		svc, timer, err := units.Systemd(uo)
		if err != nil {
			return err
		}
		order = []string{base + ".service", base + ".timer"}
		files[order[0]], files[order[1]] = []byte(svc), []byte(timer)
	} else {
		if o.image == "" {
			return errors.New("--cronjob needs --image: a container image with hardenctl and the SCAP content")
		}
		b, err := units.CronJobYAML(uo)
		if err != nil {
			return err
		}
		order = []string{base + ".cronjob.yaml"}
		files[order[0]] = b
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", o.dir, err)
	}
	for _, p := range order {
		if err := os.WriteFile(p, files[p], 0o644); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		fmt.Fprintln(g.stdout, p)
	}
	return nil
}

// checkUnitEnv refuses --env values that are secrets: a unit file is written world-readable
// (0644) and shows in systemctl cat. A sensitive variable of the configuration
// (HARDENCTL_VAR_x of a sensitive = true variable) or a name that says password, secret,
// token or credential belongs in clouds.yaml or a root-only EnvironmentFile instead.
func checkUnitEnv(cfg *config.Config, env []string) error {
	sensitive := map[string]bool{}
	for _, v := range cfg.Variables {
		if v.Sensitive {
			sensitive[config.EnvVarPrefix+v.Name] = true
		}
	}
	for _, e := range env {
		name, _, ok := strings.Cut(e, "=")
		if !ok || name == "" {
			return fmt.Errorf("--env %q: give NAME=value", name)
		}
		upper := strings.ToUpper(name)
		secretName := false
		for _, w := range []string{"PASSWORD", "SECRET", "TOKEN", "CREDENTIAL"} {
			secretName = secretName || strings.Contains(upper, w)
		}
		if sensitive[name] || secretName {
			return fmt.Errorf("--env %s: its value is a secret, and a unit file is readable by everyone on the host; keep it in clouds.yaml, or in a root-only file named by an EnvironmentFile= drop-in", name)
		}
	}
	return nil
}

type scheduleHistoryOptions struct {
	configFlags
	cloudFlags
	json   bool
	scores bool
}

func newScheduleHistoryCmd(g *globals) *cobra.Command {
	var o scheduleHistoryOptions
	cmd := &cobra.Command{
		Use:   "history NAME",
		Short: "Print the record of every run of the schedule NAME, newest first",
		Long: `Prints the records the runs of a schedule left in the cloud's object store (the
schedule's history_container), newest first; when the cloud has no object store, those in the
report directory. -json prints the records as they are stored.

--scores shows each scanned fleet's scores across the runs, oldest first, with "!" on a
server that scored below the score its image was published with (drift), and the rules
that went from pass to fail (those the image passed on its builder, kept in the record of
the run that built it).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg, cloud, err := loadConfigAndCloud(ctx, g, o.configFlags, o.cloudFlags)
			if err != nil {
				return err
			}
			s, err := scheduleNamed(cfg, args[0])
			if err != nil {
				return err
			}
			store, err := openRecordStore(g, cfg, s, cloud)
			if err != nil {
				return err
			}
			if o.scores {
				records, err := store.List(ctx, s.Name)
				if err != nil {
					return err
				}
				return writeScores(g.stdout, records, o.json)
			}
			return runScheduleHistory(ctx, g.stdout, store, s, o.json)
		},
	}
	o.configFlags.register(cmd)
	o.cloudFlags.register(cmd)
	cmd.Flags().BoolVar(&o.json, "json", false, "print the records as JSON (an array, newest first)")
	cmd.Flags().BoolVar(&o.scores, "scores", false, "print each scanned fleet's scores across the runs, with drift")
	return cmd
}

// openRecordStore is the schedule's record store: the object store's container, or, when the
// catalog has none, files in the report directory (said on stderr).
func openRecordStore(g *globals, cfg *config.Config, s *config.Schedule, cloud *openstack.Client) (schedule.RecordStore, error) {
	store, err := cloud.Records(s.HistoryContainer, cfg.Name)
	if errors.Is(err, openstack.ErrNoObjectStore) {
		fs := &schedule.FileStore{Dir: filepath.Join(cfg.Compliance.ReportDir, "records"), Config: cfg.Name}
		fmt.Fprintf(g.stderr, "Note: the cloud has no object store; the run records are in the %s\n", fs.Where())
		return fs, nil
	}
	if err != nil {
		return nil, err
	}
	return store, nil
}

func runScheduleHistory(ctx context.Context, w io.Writer, store schedule.RecordStore, s *config.Schedule, asJSON bool) error {
	records, err := store.List(ctx, s.Name)
	if err != nil {
		return err
	}
	if asJSON {
		if records == nil {
			records = []schedule.Record{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(records)
	}
	if len(records) == 0 {
		fmt.Fprintf(w, "schedule %s has no runs recorded in the %s\n", s.Name, store.Where())
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tTRIGGER\tDUE (UTC)\tSTARTED (UTC)\tTOOK\tRESULT\tBY\tIMAGES\tFLEETS")
	for _, r := range records {
		due := "-"
		if !r.Due.IsZero() {
			due = r.Due.UTC().Format("2006-01-02 15:04")
		}
		took := "-"
		if !r.Ended.IsZero() {
			took = r.Ended.Sub(r.Started).Round(time.Second).String()
		}
		var imgs, fleets []string
		for _, im := range r.Images {
			score := ""
			if im.Score != nil {
				score = fmt.Sprintf(" %.1f", *im.Score)
			}
			imgs = append(imgs, fmt.Sprintf("%s%s %s", im.Name, score, im.Gate))
		}
		for _, f := range r.Fleets {
			fleets = append(fleets, fmt.Sprintf("%s %d rebuilt, %d failed, %d rolled back, peak %d/%d", f.Name, f.Rebuilt, f.Failed, f.RolledBack, f.PeakUnavailable, f.MaxUnavailable))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Trigger, due, r.Started.UTC().Format("2006-01-02 15:04"), took,
			r.Result, r.Who.User+"@"+r.Who.Project+" on "+r.Host, orDash(strings.Join(imgs, "; ")), orDash(strings.Join(fleets, "; ")))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range records {
		if r.Error != "" {
			fmt.Fprintf(w, "%s: %s\n", r.ID, r.Error)
		}
		for _, d := range r.Drift {
			fmt.Fprintf(w, "%s: DRIFT %s\n", r.ID, driftLine(d))
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
