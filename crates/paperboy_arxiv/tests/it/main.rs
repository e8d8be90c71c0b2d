//! The sources against recorded arXiv responses served over loopback HTTP.

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use chrono::NaiveDate;
use paperboy_arxiv::{
    Error, Politeness,
    api::{ApiClient, ApiQuery},
    oai::{HarvestRequest, Harvester, MetadataFormat},
    replay::{self, ReplayServer, Response},
};
use paperboy_domain::ArxivId;

/// Fast enough for tests, still spaced so the spacing can be measured.
const TEST_POLITENESS: Politeness = Politeness {
    min_interval: Duration::from_millis(150),
    max_retries: 3,
    max_retry_after: Duration::from_secs(5),
    timeout: Duration::from_secs(10),
};

fn harvest_request(server: &ReplayServer) -> HarvestRequest {
    HarvestRequest {
        endpoint: format!("{}/oai", server.url()),
        from: NaiveDate::from_ymd_opt(2017, 12, 14).unwrap(),
        until: None,
        set: Some("physics:hep-th".into()),
        format: MetadataFormat::Arxiv,
    }
}

#[test]
fn harvest_follows_resumption_tokens_to_the_last_page() {
    let server = ReplayServer::start(replay::oai_repository(replay::oai_pages()));
    let harvester = Harvester::new(TEST_POLITENESS).unwrap();
    let request = harvest_request(&server);
    let mut token = None;
    let mut ids = Vec::new();
    for page_number in 1.. {
        let page = harvester.fetch_page(&request, token.as_deref(), page_number).unwrap();
        ids.extend(page.records.iter().map(|r| r.as_ref().unwrap().id.to_string()));
        token = page.resumption_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(ids.len(), 9);
    assert_eq!(ids[0], "1412.8323");
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].param("metadataPrefix"), Some("arXiv"));
    assert_eq!(requests[0].param("from"), Some("2017-12-14"));
    assert_eq!(requests[0].param("set"), Some("physics:hep-th"));
    assert_eq!(requests[1].param("resumptionToken"), Some("3132962|3"));
    assert_eq!(requests[1].param("metadataPrefix"), None, "a token replaces the other arguments");
    // The server stamps each request when its thread gets to it, which on a loaded machine can be
    // tens of milliseconds after it arrived: a late first stamp shortens the gap it measures (it
    // failed once here at 140 ms while CI ran beside it). Without the wait the gap would be a
    // millisecond or two.
    for pair in requests.windows(2) {
        assert!(pair[1].at - pair[0].at >= Duration::from_millis(100), "requests closer than the interval");
    }
}

#[test]
fn arxiv_politeness_is_one_request_per_three_seconds() {
    assert_eq!(Politeness::default().min_interval, Duration::from_secs(3));
    assert_eq!(Harvester::new(Politeness::default()).unwrap().min_interval(), Duration::from_secs(3));
}

#[test]
fn harvest_waits_out_503_retry_after() {
    let calls = AtomicUsize::new(0);
    let pages = replay::oai_pages();
    let server = ReplayServer::start(move |_| {
        if calls.fetch_add(1, Ordering::SeqCst) == 0 {
            Response::status(503, "Retry later").header("Retry-After", "1")
        } else {
            Response::ok(pages[2].clone())
        }
    });
    let harvester = Harvester::new(TEST_POLITENESS).unwrap();
    let page = harvester.fetch_page(&harvest_request(&server), None, 1).unwrap();
    assert_eq!(page.records.len(), 3);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests[1].at - requests[0].at >= Duration::from_millis(990), "Retry-After was not obeyed");
}

#[test]
fn harvest_gives_up_on_a_retry_after_longer_than_allowed() {
    let server = ReplayServer::start(|_| Response::status(503, "").header("Retry-After", "86400"));
    let harvester = Harvester::new(TEST_POLITENESS).unwrap();
    let err = harvester.fetch_page(&harvest_request(&server), None, 1).unwrap_err();
    assert!(err.to_string().contains("retry after 86400 s"), "{err}");
}

#[test]
fn expired_resumption_tokens_are_an_oai_error() {
    let server = ReplayServer::start(replay::oai_repository(replay::oai_pages()));
    let harvester = Harvester::new(TEST_POLITENESS).unwrap();
    let err = harvester.fetch_page(&harvest_request(&server), Some("3132962|7"), 2).unwrap_err();
    assert!(matches!(&err, Error::Oai { code, .. } if code == "badResumptionToken"), "{err}");
}

#[test]
fn http_errors_are_reported_with_the_status() {
    let server = ReplayServer::start(|_| Response::status(404, "<html>Not Found</html>"));
    let harvester = Harvester::new(TEST_POLITENESS).unwrap();
    let err = harvester.fetch_page(&harvest_request(&server), None, 1).unwrap_err();
    assert!(err.to_string().contains("HTTP 404"), "{err}");
}

/// Serves the recorded arXiv API responses, matched on the query parameters that matter.
fn api_server() -> ReplayServer {
    let dir = replay::fixture_dir().join("api-2026");
    let mut recordings = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap()).unwrap();
        let url = json["url"].as_str().unwrap().to_owned();
        let body: Vec<u8> = json["body"].as_str().unwrap().chars().map(|c| c as u32 as u8).collect();
        recordings.push((url, json["status_code"].as_u64().unwrap() as u16, body));
    }
    let key = |params: &[(String, String)]| -> Vec<String> {
        ["search_query", "id_list", "start", "max_results"]
            .iter()
            .map(|name| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default())
            .collect()
    };
    let recordings: Vec<(Vec<String>, u16, Vec<u8>)> = recordings
        .into_iter()
        .map(|(url, status, body)| (key(&replay::parse_query(url.split_once('?').unwrap().1)), status, body))
        .collect();
    ReplayServer::start(move |request| {
        let wanted = key(&request.query);
        match recordings.iter().find(|(recorded, _, _)| *recorded == wanted) {
            Some((_, status, body)) => Response::status(*status, body.clone()),
            None => Response::status(404, format!("not recorded: {wanted:?}")),
        }
    })
}

#[test]
fn api_search_pages_until_max_results() {
    let server = api_server();
    let client = ApiClient::new(&format!("{}/api/query", server.url()), TEST_POLITENESS, 10).unwrap();
    let mut ids = Vec::new();
    client
        .fetch(&ApiQuery::Search { query: "testing".into(), max_results: 30 }, |feed| {
            ids.extend(feed.entries.into_iter().map(|e| e.unwrap().id));
            Ok(())
        })
        .unwrap();
    assert_eq!(ids.len(), 30);
    let starts: Vec<String> = server.requests().iter().map(|r| r.param("start").unwrap().to_owned()).collect();
    assert_eq!(starts, ["0", "10", "20"]);
}

#[test]
fn api_lookup_by_ids_new_and_old_style() {
    let server = api_server();
    let client = ApiClient::new(&format!("{}/api/query", server.url()), TEST_POLITENESS, 100).unwrap();
    for (id, expected_title_start) in [("1605.08386", "Heat-bath random walks"), ("astro-ph/0601001", "")] {
        let mut found = Vec::new();
        client
            .fetch(&ApiQuery::Ids(vec![ArxivId::parse(id).unwrap()]), |feed| {
                found.extend(feed.entries.into_iter().map(|e| e.unwrap()));
                Ok(())
            })
            .unwrap();
        assert_eq!(found.len(), 1, "{id}");
        assert_eq!(found[0].id.to_string(), id);
        assert!(found[0].title.starts_with(expected_title_start), "{}", found[0].title);
    }
}

#[test]
fn api_errors_come_back_as_messages() {
    let server = ReplayServer::start(|_| {
        let path = replay::fixture_dir().join("api-2026/id_abc_s0_m100_b79c8dcf6bc3.json");
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        Response::status(400, json["body"].as_str().unwrap().to_owned())
    });
    let client = ApiClient::new(&format!("{}/api/query", server.url()), TEST_POLITENESS, 100).unwrap();
    let err = client.fetch(&ApiQuery::Search { query: "x".into(), max_results: 5 }, |_| Ok(())).unwrap_err();
    assert_eq!(err.to_string(), "the arXiv API answered: incorrect id format for abc");
}
