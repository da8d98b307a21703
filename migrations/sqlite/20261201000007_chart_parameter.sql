-- Charts are looked up by the parameter they plot (a track-out judges only the charts of the
-- parameters it measured), without reading every chart's document.
ALTER TABLE spc_charts ADD COLUMN parameter TEXT;
UPDATE spc_charts SET parameter = json_extract(doc, '$.parameter');
CREATE INDEX spc_charts_parameter_idx ON spc_charts (parameter);
