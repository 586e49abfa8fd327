// The rollout page follows its rollout live (server-sent events). A file,
// not an inline script: the Content-Security-Policy allows only this site's scripts.
(function(){
  var box=document.getElementById('rollout'); if(!window.EventSource) return;
  var es=new EventSource(box.dataset.events);
  es.onmessage=function(e){
    var r=JSON.parse(e.data), c=r.counts, done=c.released+c.rejected+c.failed+c.skipped+c.cancelled;
    document.getElementById('status').textContent=r.status;
    document.getElementById('reason').textContent=r.status_reason||'';
    document.getElementById('bar').style.width=(c.total?Math.floor(done*100/c.total):0)+'%';
    document.getElementById('summary').textContent=done+' / '+c.total;
    document.getElementById('cohort').textContent=Math.min(r.cohort+1,Math.max(r.cohorts,1));
    document.querySelectorAll('#counts td[data-k]').forEach(function(td){td.textContent=c[td.dataset.k];});
    if(r.status==='completed'||r.status==='cancelled'||r.status==='failed'){es.close();}
  };
})();
