// The dashboard follows each rollout in flight live (server-sent events, the
// rollout page's own stream). A file, not an inline script: the
// Content-Security-Policy allows only this site's scripts.
(function(){
  if(!window.EventSource) return;
  document.querySelectorAll('.rollout-live').forEach(function(box){
    var es=new EventSource(box.dataset.events);
    var k=function(n){return box.querySelector('[data-k="'+n+'"]');};
    es.onmessage=function(e){
      var r=JSON.parse(e.data), c=r.counts, done=c.released+c.rejected+c.failed+c.skipped+c.cancelled;
      k('status').textContent=r.status;
      k('reason').textContent=r.status_reason||'';
      k('bar').style.width=(c.total?Math.floor(done*100/c.total):0)+'%';
      k('summary').textContent=done+' / '+c.total;
      if(r.status==='completed'||r.status==='cancelled'||r.status==='failed'){es.close();}
    };
  });
})();
