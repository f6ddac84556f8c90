//! How far each peer's clock is from this device's, as measured at each
//! session (`crate::clock` says what that means for this device's own).

use super::*;
use crate::clock::{ClockStatus, PeerClock};

/// The peers' clocks, as last measured (see [`Node::peer_clocks`]).
const META_PEER_CLOCKS: &str = "peer_clocks";

impl Node {
    /// Read time from `clock` instead of the system's where this device's
    /// clock is compared with its peers' and its own error applied (the
    /// clock each message of a session carries, and whether a check's or
    /// claim's time is the device's now): for a simulator, whose devices
    /// live on a simulated clock, some of them wrong.
    pub fn set_clock(&mut self, clock: super::Clock) {
        self.clock = Some(clock);
    }

    /// Now, by this device's clock.
    pub(super) fn now(&self) -> Timestamp {
        match &self.clock {
            Some(c) => c(),
            None => Timestamp::now(),
        }
    }

    /// Whether `at` is this device's now (to the minute), not a time a
    /// person entered: only such a time carries the clock's error.
    pub(super) fn is_now(&self, at: Timestamp) -> bool {
        (at.0 - self.now().0).num_seconds().abs() < 60
    }

    /// The setting that records `peer`'s clock, read as `clock_ms` from a
    /// message it made now: written with the message's own batch.
    pub(super) fn clock_noted(
        &mut self,
        peer: &DeviceId,
        clock_ms: i64,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let now = self.now();
        let mut all = self.peer_clocks()?;
        let n = all.values().map(|p| p.n).max().unwrap_or(0) + 1;
        all.insert(
            peer.clone(),
            PeerClock {
                ahead_ms: clock_ms.saturating_sub(now.millis()),
                at: now,
                n,
            },
        );
        let bytes = serde_json::to_vec(&all).expect("clocks always serialize");
        Ok(vec![(META_PEER_CLOCKS.into(), bytes)])
    }

    /// Each peer's clock as this device last measured it.
    pub fn peer_clocks(&self) -> Result<BTreeMap<DeviceId, PeerClock>> {
        Ok(self
            .store
            .meta(META_PEER_CLOCKS)?
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default())
    }

    /// This device's clock as its latest peers see it; `None` before any
    /// session told a peer's clock.
    pub fn clock_status(&self) -> Result<Option<ClockStatus>> {
        Ok(crate::clock::status(&self.peer_clocks()?))
    }

    /// The space's active members among [`Node::peer_clocks_off`], with
    /// their clocks.
    pub fn members_with_clocks_off(&mut self, space: &SpaceId) -> Result<Vec<(Member, PeerClock)>> {
        let mut clocks = self.peer_clocks_off()?;
        Ok(self
            .members(space)?
            .into_iter()
            .filter(|(_, standing)| *standing == MemberStanding::Active)
            .filter_map(|(m, _)| {
                let clock = clocks.remove(&m.device)?;
                Some((m, clock))
            })
            .collect())
    }

    /// The peers whose clocks were off against this device's at their
    /// latest session; none while this device's own clock is what is off
    /// (every peer's would seem so, and this device is told that instead).
    pub fn peer_clocks_off(&self) -> Result<BTreeMap<DeviceId, PeerClock>> {
        if self.clock_status()?.is_some_and(|s| s.is_off()) {
            return Ok(BTreeMap::new());
        }
        let mut clocks = self.peer_clocks()?;
        clocks.retain(|_, c| c.is_off());
        Ok(clocks)
    }

    /// How far this device's clock runs ahead, when it is off by more than
    /// the tolerance: what a check made now carries.
    pub(super) fn clock_error(&self) -> Result<Option<i64>> {
        Ok(self
            .clock_status()?
            .filter(ClockStatus::is_off)
            .map(|s| s.ahead_secs))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{member_of, office_in_a_flood};
    use super::*;
    use crate::codes::Lang;
    use crate::model::{CheckMethod, CheckResult, RecipientId, Role};
    use crate::store::MemoryStore;

    /// A session between `a` and `b` in which `b`'s clock runs `b_ahead_ms`
    /// ahead of `a`'s (both read the same real clock here: each message's
    /// clock is shifted as the receiver's own would differ). Goes through
    /// the wire's encoding, as over the network.
    fn session(a: &mut Node, b: &mut Node, b_ahead_ms: i64, want: &[SpaceId]) {
        let peer = b.device().clone();
        let (mut sa, hello) = a.sync_start(Some(&peer), want).unwrap();
        let mut sb = b.sync_accept();
        let wire = |m: Message, shift: i64| {
            let mut m = sync::decode(&sync::encode(&m)).unwrap();
            m.clock = m.clock.map(|c| c + shift);
            m
        };
        let mut to_b = Some(wire(hello, -b_ahead_ms));
        let mut to_a = None;
        for _ in 0..20 {
            if let Some(m) = to_b.take() {
                assert!(m.clock.is_some() || m.anchor.is_none());
                to_a = b
                    .sync_receive(&mut sb, m)
                    .unwrap()
                    .map(|m| wire(m, b_ahead_ms));
            } else if let Some(m) = to_a.take() {
                to_b = a
                    .sync_receive(&mut sa, m)
                    .unwrap()
                    .map(|m| wire(m, -b_ahead_ms));
            } else {
                return;
            }
        }
        panic!("the session did not settle");
    }

    /// A phone whose clock reset three hours back is told at its first
    /// session, its checks carry the error and every device shows them at
    /// the right time; the office, which most peers agree with, is not
    /// told anything.
    #[test]
    fn a_phone_with_a_wrong_clock_is_told_and_its_checks_are_shown_corrected() {
        let (mut office, space, incident) = office_in_a_flood(MemoryStore::new());
        let mut phone = Node::open(MemoryStore::new()).unwrap();
        office
            .add_member(
                &space,
                &phone.device().clone(),
                Staff::default(),
                Role::CareManager,
            )
            .unwrap();
        assert_eq!(phone.clock_status().unwrap(), None, "no peer yet");
        // The phone's clock is three hours slow: the office's reads three
        // hours ahead of it. The phone joins through the office.
        let behind = -3 * 3600 * 1000;
        session(
            &mut phone,
            &mut office,
            -behind,
            std::slice::from_ref(&space),
        );
        let told = phone.clock_status().unwrap().unwrap();
        assert!(
            told.is_off() && (told.ahead_secs + 10_800).abs() < 5,
            "{told:?}"
        );
        assert!(told.warning(Lang::Ja).unwrap().contains("約3時間遅れて"));
        let seen = office.peer_clocks().unwrap()[phone.device()].clone();
        assert!((seen.ahead_ms - behind).abs() < 5_000, "{seen:?}");
        // The office saw one slow peer: its own clock is what is in
        // question then, and it says so — until others agree with it.
        assert!(office.clock_status().unwrap().unwrap().is_off());
        assert!(office.members_with_clocks_off(&space).unwrap().is_empty());
        for _ in 0..2 {
            member_of(&mut office, &space, Role::CareManager);
        }
        assert!(!office.clock_status().unwrap().unwrap().is_off());
        // Now the office is told which of its devices is off, and by how
        // much; the two that agree with it are not named.
        let off: Vec<(String, PeerClock)> = office
            .members_with_clocks_off(&space)
            .unwrap()
            .into_iter()
            .map(|(m, c)| {
                assert_eq!(&m.device, phone.device());
                ("訪問 太郎".to_string(), c)
            })
            .collect();
        assert_eq!(off.len(), 1);
        let notice = crate::clock::devices_off_notice(&off, Lang::Ja).unwrap();
        assert!(
            notice.contains("ずれている端末が1台あります: 訪問 太郎（約3時間遅れています）"),
            "{notice}"
        );

        // A check the phone records now.
        let mut c = NewCheck::new(
            RecipientId("R1".into()),
            CheckMethod::Visit,
            CheckResult::Safe,
        );
        // Its clock, as the node reads it, is the real one here: the
        // recorded time is what matters.
        c.at = Timestamp::now();
        let made = phone.record_check(&space, &incident.id, c).unwrap();
        assert_eq!(
            made.clock_ahead_secs.map(|s| (s + 10_800).abs() < 5),
            Some(true)
        );
        // A claim's end is read by others' clocks: set by the corrected
        // time.
        let now = Timestamp::now();
        let claim = phone
            .claim(&space, &incident.id, &RecipientId("R2".into()), 30, now)
            .unwrap();
        assert!(
            ((claim.since.millis() - now.millis()) - 10_800_000).abs() < 5_000,
            "{claim:?}"
        );
        // The office's claim reaches the slow phone, whose list reads it
        // by the corrected time: an hour from now by the phone's clock is
        // four hours from now, long past the claim's thirty minutes.
        let office_claim = office
            .claim(
                &space,
                &incident.id,
                &RecipientId("R1".into()),
                30,
                Timestamp::now(),
            )
            .unwrap();
        session(&mut phone, &mut office, -behind, &[]);
        let data = phone.shown_incident_data(&space).unwrap();
        let phone_in_an_hour = Timestamp::now().plus_minutes(-180 + 60);
        let live = |now: Timestamp| {
            data.priority_list(now)
                .iter()
                .find(|e| e.recipient.id.0 == "R1")
                .is_some_and(|e| {
                    e.live_claims
                        .iter()
                        .any(|c| c.device == office_claim.device)
                })
        };
        assert!(!live(phone_in_an_hour), "read by the corrected time");
        assert!(live(Timestamp::now().plus_minutes(-180 + 10)));
        // The board reads its list by the corrected time too, once: a
        // ventilator on a 30-hour battery (a flood cuts the power) is
        // within a day of its end six hours in.
        let mut battery = super::super::tests::recipient("R3");
        battery.plan.battery_minutes = Some(30 * 60);
        office.upsert_recipients(&space, vec![battery]).unwrap();
        session(&mut phone, &mut office, -behind, &[]);
        let data = phone.shown_incident_data(&space).unwrap();
        let near = |hours: i64| {
            let at = Timestamp::now().plus_minutes((hours - 3) * 60);
            data.board(at).unwrap().summary.battery_deadline_not_reached
        };
        assert_eq!((near(4), near(7)), (0, 1), "four hours in, then seven");
        // A time a person entered is not corrected.
        let mut typed = NewCheck::new(
            RecipientId("R2".into()),
            CheckMethod::Phone,
            CheckResult::Safe,
        );
        typed.at = Timestamp::now().plus_minutes(-300);
        let typed = phone.record_check(&space, &incident.id, typed).unwrap();
        assert_eq!(typed.clock_ahead_secs, None);
        session(&mut phone, &mut office, -behind, &[]);
        let there = office
            .checks(&space, &incident.id)
            .unwrap()
            .into_iter()
            .find(|c| c.id == made.id)
            .unwrap();
        assert_eq!(there.clock_ahead_secs, made.clock_ahead_secs);
        assert_eq!(
            there.shown_at().millis() - there.at.millis(),
            -made.clock_ahead_secs.unwrap() * 1000
        );
    }
}
