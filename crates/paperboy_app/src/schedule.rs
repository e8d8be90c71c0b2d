//! When the daily job runs: after arXiv's announcement (by default 20:30 US Eastern, Sunday to
//! Thursday), harvest the new papers, build the digests, send them. The schedule is pure
//! arithmetic over UTC instants so it can be tested for any moment; the last slot handled is kept
//! in the store, so a server that was down catches up once, not once per missed day.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};

use crate::{Error, Library, Result};

/// A time zone the schedule understands: a fixed offset, or US Eastern with its daylight-saving
/// rules (second Sunday of March to first Sunday of November, changes at 02:00 local).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// `America/New_York`: arXiv's clock.
    UsEastern,
    /// A fixed offset from UTC, in minutes (`UTC`: 0).
    Fixed(i32),
}

impl Zone {
    /// `America/New_York` (or `US/Eastern`), `UTC`, or an offset like `+01:00` / `-05:30`.
    pub fn parse(text: &str) -> std::result::Result<Zone, String> {
        let text = text.trim();
        match text {
            "America/New_York" | "US/Eastern" | "EST5EDT" => return Ok(Zone::UsEastern),
            "UTC" | "Z" | "GMT" => return Ok(Zone::Fixed(0)),
            _ => {}
        }
        let (sign, rest) = match text.strip_prefix('+') {
            Some(rest) => (1, rest),
            None => (-1, text.strip_prefix('-').ok_or_else(|| bad_zone(text))?),
        };
        let (hours, minutes) = rest.split_once(':').unwrap_or((rest, "0"));
        let (hours, minutes): (i32, i32) =
            (hours.parse().map_err(|_| bad_zone(text))?, minutes.parse().map_err(|_| bad_zone(text))?);
        if hours > 14 || minutes > 59 {
            return Err(bad_zone(text));
        }
        Ok(Zone::Fixed(sign * (hours * 60 + minutes)))
    }

    /// The offset from UTC, in minutes, at a UTC instant.
    fn offset_minutes(self, at: DateTime<Utc>) -> i32 {
        match self {
            Zone::Fixed(minutes) => minutes,
            Zone::UsEastern => {
                let year = at.year();
                // 02:00 EST on the second Sunday of March is 07:00 UTC; 02:00 EDT on the first
                // Sunday of November is 06:00 UTC.
                let start = nth_sunday(year, 3, 2).and_hms_opt(7, 0, 0).expect("valid").and_utc();
                let end = nth_sunday(year, 11, 1).and_hms_opt(6, 0, 0).expect("valid").and_utc();
                if at >= start && at < end { -4 * 60 } else { -5 * 60 }
            }
        }
    }

    /// The UTC instant of a local date and time (for the hour skipped in spring, the instant an
    /// hour later; for the hour repeated in autumn, the first).
    fn to_utc(self, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        let local = date.and_time(time);
        let standard = Utc.from_utc_datetime(&local) - Duration::minutes(self.offset_minutes_standard() as i64);
        let offset = self.offset_minutes(standard);
        let guess = Utc.from_utc_datetime(&local) - Duration::minutes(offset as i64);
        if self.offset_minutes(guess) == offset { guess } else { standard }
    }

    fn offset_minutes_standard(self) -> i32 {
        match self {
            Zone::Fixed(minutes) => minutes,
            Zone::UsEastern => -5 * 60,
        }
    }

    /// The local date at a UTC instant.
    pub fn local_date(self, at: DateTime<Utc>) -> NaiveDate {
        (at + Duration::minutes(self.offset_minutes(at) as i64)).date_naive()
    }
}

fn bad_zone(text: &str) -> String {
    format!("unknown time zone {text:?}: use America/New_York, UTC or an offset like +01:00")
}

fn nth_sunday(year: i32, month: u32, n: u32) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Sun, n as u8)
        .expect("every month has a first and second Sunday")
}

/// When the daily job runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Local time of day.
    pub at: NaiveTime,
    /// The zone of `at`.
    pub zone: Zone,
    /// Local weekdays it runs on.
    pub days: Vec<Weekday>,
}

impl Default for Schedule {
    /// arXiv announces at 20:00 US Eastern, Sunday to Thursday; half an hour later the listings and
    /// OAI-PMH have the new papers.
    fn default() -> Self {
        Schedule {
            at: NaiveTime::from_hms_opt(20, 30, 0).expect("valid"),
            zone: Zone::UsEastern,
            days: vec![Weekday::Sun, Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu],
        }
    }
}

impl Schedule {
    /// Parses `HH:MM`, a zone (see [`Zone::parse`]) and weekdays (`sun,mon,tue,wed,thu`).
    pub fn parse(at: &str, zone: &str, days: &str) -> std::result::Result<Schedule, String> {
        let at =
            NaiveTime::parse_from_str(at.trim(), "%H:%M").map_err(|_| format!("{at:?} is not a time like 20:30"))?;
        let zone = Zone::parse(zone)?;
        let days = days
            .split(',')
            .map(|d| d.trim().parse::<Weekday>().map_err(|_| format!("{d:?} is not a weekday (mon, tue, …)")))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        if days.is_empty() {
            return Err("the schedule needs at least one weekday".into());
        }
        Ok(Schedule { at, zone, days })
    }

    /// The latest scheduled moment at or before `now`.
    pub fn last_slot(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let today = self.zone.local_date(now);
        (0..8)
            .map(|back| today - Duration::days(back))
            .filter(|day| self.days.contains(&day.weekday()))
            .map(|day| self.zone.to_utc(day, self.at))
            .find(|slot| *slot <= now)
            .expect("a weekday repeats within eight days")
    }

    /// The first scheduled moment after `now`.
    pub fn next_slot(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let today = self.zone.local_date(now);
        (0..9)
            .map(|ahead| today + Duration::days(ahead))
            .filter(|day| self.days.contains(&day.weekday()))
            .map(|day| self.zone.to_utc(day, self.at))
            .find(|slot| *slot > now)
            .expect("a weekday repeats within eight days")
    }
}

/// The settings key of the last slot handled.
const LAST_RUN_KEY: &str = "scheduler.last_slot";

impl Library {
    /// The slot the daily job should run for now: the latest one at or before `now` when it has not
    /// been handled (one catch-up however many were missed), else `None`.
    pub fn pending_slot(&self, schedule: &Schedule, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        let last = schedule.last_slot(now);
        let handled = self
            .store
            .setting(LAST_RUN_KEY)?
            .and_then(|text| DateTime::parse_from_rfc3339(&text).ok())
            .map(|t| t.with_timezone(&Utc));
        Ok(match handled {
            Some(handled) if handled >= last => None,
            _ => Some(last),
        })
    }

    /// Records that the job for `slot` ran.
    pub fn mark_slot_done(&self, slot: DateTime<Utc>) -> Result<()> {
        self.store.put_setting(LAST_RUN_KEY, &slot.to_rfc3339()).map_err(Error::from)
    }

    /// Whether this process runs the daily job now: a slot is pending and no other node of the
    /// cluster runs it. The lease is taken before the slot is looked at, so two nodes never both
    /// find it pending; [`Library::keep_slot`] renews it while the job runs, and
    /// [`Library::finish_slot`] records the slot and gives the lease up. A node that dies mid-job
    /// leaves the lease to run out, and another runs the slot (each step of the job is safe to
    /// repeat: the harvest resumes from its checkpoint, digests are queued once per period).
    pub fn claim_slot(&self, schedule: &Schedule, now: DateTime<Utc>) -> Result<SlotClaim> {
        if !self.hold_lease(DAILY_JOB_LEASE, DAILY_JOB_LEASE_LENGTH)? {
            return Ok(SlotClaim::Elsewhere);
        }
        match self.pending_slot(schedule, now)? {
            Some(slot) => Ok(SlotClaim::Run(slot)),
            None => {
                self.release_lease(DAILY_JOB_LEASE);
                Ok(SlotClaim::Nothing)
            }
        }
    }

    /// Renews this process's hold on the running daily job; false when it lost it (it ran past
    /// its lease and another node took over: it should stop).
    pub fn keep_slot(&self) -> Result<bool> {
        self.hold_lease(DAILY_JOB_LEASE, DAILY_JOB_LEASE_LENGTH)
    }

    /// Records that the job for `slot` ran, and lets the next slot be claimed.
    pub fn finish_slot(&self, slot: DateTime<Utc>) -> Result<()> {
        let done = self.mark_slot_done(slot);
        self.release_lease(DAILY_JOB_LEASE);
        done
    }
}

/// The lease one node holds while it runs the daily job.
const DAILY_JOB_LEASE: &str = "daily-job";
/// How long the lease lasts unless renewed (the job renews it every minute).
const DAILY_JOB_LEASE_LENGTH: chrono::Duration = chrono::Duration::minutes(10);

/// What [`Library::claim_slot`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotClaim {
    /// Nothing is due.
    Nothing,
    /// Another node runs the daily job now: look again in a minute.
    Elsewhere,
    /// Run the job for this slot.
    Run(DateTime<Utc>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_default_runs_at_half_past_eight_new_york_time_sunday_to_thursday() {
        let schedule = Schedule::default();
        // Summer (EDT, UTC-4): Tuesday 2026-06-16 20:30 is 00:30 UTC on the 17th.
        assert_eq!(schedule.next_slot(utc("2026-06-16T12:00:00Z")), utc("2026-06-17T00:30:00Z"));
        // Winter (EST, UTC-5): Monday 2026-11-30 20:30 is 01:30 UTC on December 1st.
        assert_eq!(schedule.next_slot(utc("2026-11-30T12:00:00Z")), utc("2026-12-01T01:30:00Z"));
        // Friday and Saturday evenings have no announcement: after Thursday's run comes Sunday's.
        assert_eq!(schedule.next_slot(utc("2026-06-19T01:00:00Z")), utc("2026-06-22T00:30:00Z"));
        assert_eq!(schedule.last_slot(utc("2026-06-21T12:00:00Z")), utc("2026-06-19T00:30:00Z"));
    }

    #[test]
    fn daylight_saving_changes_move_the_utc_time() {
        let schedule = Schedule::default();
        // 2026: DST starts Sunday March 8, ends Sunday November 1.
        assert_eq!(schedule.next_slot(utc("2026-03-05T12:00:00Z")), utc("2026-03-06T01:30:00Z"));
        assert_eq!(schedule.next_slot(utc("2026-03-08T12:00:00Z")), utc("2026-03-09T00:30:00Z"));
        assert_eq!(schedule.next_slot(utc("2026-11-01T12:00:00Z")), utc("2026-11-02T01:30:00Z"));
        assert_eq!(Zone::UsEastern.local_date(utc("2026-06-17T00:30:00Z")).to_string(), "2026-06-16");
    }

    #[test]
    fn schedules_and_zones_parse_or_say_why() {
        let schedule = Schedule::parse("06:00", "+01:00", "mon,fri").unwrap();
        assert_eq!(schedule.next_slot(utc("2026-06-16T12:00:00Z")), utc("2026-06-19T05:00:00Z"));
        assert!(Schedule::parse("25:00", "UTC", "mon").unwrap_err().contains("time"));
        assert!(Schedule::parse("20:30", "Mars/Olympus", "mon").unwrap_err().contains("time zone"));
        assert!(Schedule::parse("20:30", "UTC", "someday").unwrap_err().contains("weekday"));
        assert_eq!(Zone::parse("-05:30").unwrap(), Zone::Fixed(-330));
    }
}
